import { describe, expect, it } from 'vitest';
import { ConnectionError, parseUrl } from '../../src/client/index.js';

describe('client URLs', () => {
  it('reads skiff:// for TCP, and ws:// and wss:// with the web ports and /ws by default', () => {
    expect(parseUrl('skiff://app:pw@broker:5690')).toEqual({ scheme: 'skiff', host: 'broker', port: 5690, path: '', username: 'app', password: 'pw', tls: false, vhost: '/' });
    expect(parseUrl('skiffs://broker')).toMatchObject({ scheme: 'skiffs', port: 5681, path: '', tls: true });
    expect(parseUrl('ws://app:pw@broker')).toEqual({ scheme: 'ws', host: 'broker', port: 80, path: '/ws', username: 'app', password: 'pw', tls: false, vhost: '/' });
    expect(parseUrl('wss://broker/')).toMatchObject({ scheme: 'wss', port: 443, path: '/ws', username: 'guest', password: 'guest', tls: true });
    expect(parseUrl('ws://[::1]:15672/skiff/ws?tenant=a')).toMatchObject({ host: '::1', port: 15672, path: '/skiff/ws?tenant=a' });
    expect(parseUrl('ws://us%40er:p%3Ass@h:1/ws')).toMatchObject({ username: 'us@er', password: 'p:ss' });
  });

  it("takes the vhost from a skiff:// URL's path as AMQP URIs do, and from ws://'s vhost parameter", () => {
    expect(parseUrl('skiff://h:1').vhost).toBe('/');
    expect(parseUrl('skiff://h:1/').vhost).toBe('/');
    expect(parseUrl('skiff://h:1/%2F').vhost).toBe('/');
    expect(parseUrl('skiff://u:p@h:1/tenant-a').vhost).toBe('tenant-a');
    expect(parseUrl('skiffs://h/team%2Forders').vhost).toBe('team/orders');
    expect(parseUrl('skiff://h/caf%C3%A9').vhost).toBe('café');
    expect(parseUrl('ws://h/ws?vhost=tenant-a&x=1')).toMatchObject({ vhost: 'tenant-a', path: '/ws?x=1' });
    expect(parseUrl('wss://h/ws?vhost=%2F')).toMatchObject({ vhost: '/', path: '/ws' });
    expect(() => parseUrl('skiff://h/a/b')).toThrow(new ConnectionError('ERR_INVALID_URL', "the vhost in 'skiff://h/a/b' must be one path segment (write '/' as %2F)"));
    expect(() => parseUrl('skiff://h/%E0')).toThrow(new ConnectionError('ERR_INVALID_URL', "the vhost in 'skiff://h/%E0' is not valid percent-encoding"));
  });

  it('names the schemes it takes, and keeps a password out of the error', () => {
    const err = (url: string): unknown => {
      try {
        parseUrl(url);
      } catch (e) {
        return e;
      }
      return null;
    };
    expect(err('amqp://x')).toEqual(new ConnectionError('ERR_INVALID_URL', "URL must start with skiff://, skiffs://, ws:// or wss:// (got 'amqp:')"));
    expect(err('ws://user:hunter2@bad host')).toMatchObject({ code: 'ERR_INVALID_URL', message: "invalid URL 'ws://user:***@bad host'" });
  });
});
