import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BASIC_PROPERTIES,
  BasicFlag,
  FRAME_END,
  FRAME_MIN_SIZE,
  FrameType,
  METHODS,
  Method,
  REPLY_CODE_KIND,
  ReplyCode,
} from '../../protocol/amqp/spec.generated.js';
import { AmqpError, replyCodeName } from '../../protocol/amqp/errors.js';
import { amqplibDefs } from '../helpers/amqp.js';

const GENERATOR = new URL('../../protocol/amqp/generate.mjs', import.meta.url).pathname;
const SPEC = '/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml';
const tmp = mkdtempSync(join(tmpdir(), 'skiff-amqp-gen-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('generator', () => {
  it('the committed output is what the generator makes from the spec', () => {
    const r = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('--check names a stale file and exits 1', () => {
    execFileSync(process.execPath, [GENERATOR, '--out', tmp]);
    writeFileSync(join(tmp, 'spec.generated.ts'), '// edited by hand\n');
    const r = spawnSync(process.execPath, [GENERATOR, '--check', '--out', tmp], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${join(tmp, 'spec.generated.ts')} is stale: run npm run gen:amqp\n`);
  });

  it('refuses to add an extension the spec already has', () => {
    const xml = readFileSync(SPEC, 'utf8').replace(
      '<method name="close-ok" synchronous="1" index="51">',
      '<method name="blocked" index="60"><chassis name="client" implement="MUST"/><field name="reason" domain="shortstr"/></method>\n    <method name="close-ok" synchronous="1" index="51">',
    );
    const spec = join(tmp, 'with-blocked.xml');
    writeFileSync(spec, xml);
    const r = spawnSync(process.execPath, [GENERATOR, '--spec', spec, '--out', tmp], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('connection.blocked is already in the spec');
  });
});

describe('method table', () => {
  it('has every method amqplib knows (but the deprecated access class), with the same ids and field types', () => {
    const theirs = Object.keys(amqplibDefs)
      .filter((k) => k.startsWith('methodInfo'))
      .map((k) => amqplibDefs[k] as { id: number; name: string; args: { name: string; type: string }[] })
      .filter((m) => m.id >>> 16 !== 30);
    expect(METHODS.map((m) => m.id).sort()).toEqual(theirs.map((m) => m.id).sort());
    for (const m of METHODS) {
      const t = theirs.find((x) => x.id === m.id);
      expect(t?.name, m.name).toBe(m.name.replace(/(^|[.-])([a-z])/g, (_, _s: string, c: string) => c.toUpperCase()));
      expect(m.fields.map((f) => f.type), m.name).toEqual(t?.args.map((a) => a.type));
      // Names agree except reserved fields (amqplib names them: ticket, capabilities, ...) and nowait.
      const named = m.fields.map((f, i) => [f.name, t?.args[i]?.name] as const).filter(([ours]) => ours !== null);
      for (const [ours, them] of named) expect(ours === 'noWait' ? 'nowait' : ours, m.name).toBe(them);
    }
  });

  it('includes RabbitMQ extensions the Debian XML lacks', () => {
    expect(Method.ConnectionBlocked).toBe((10 << 16) | 60);
    expect(Method.ConnectionUnblocked).toBe((10 << 16) | 61);
    expect(Method.ConnectionUpdateSecret).toBe((10 << 16) | 70);
    expect(Method.ConnectionUpdateSecretOk).toBe((10 << 16) | 71);
    expect(Method.BasicNack).toBe((60 << 16) | 120);
    expect(Method.ConfirmSelect).toBe((85 << 16) | 10);
    expect(Method.ExchangeUnbindOk).toBe((40 << 16) | 51);
  });

  it('knows which methods carry content and who sends them', () => {
    expect(METHODS.filter((m) => m.content).map((m) => m.name)).toEqual(['basic.publish', 'basic.return', 'basic.deliver', 'basic.get-ok']);
    const by = (name: string): string | undefined => METHODS.find((m) => m.name === name)?.sentBy;
    expect(by('basic.publish')).toBe('client');
    expect(by('basic.deliver')).toBe('server');
    expect(by('basic.ack')).toBe('both');
    expect(by('basic.nack')).toBe('both');
    expect(by('basic.cancel')).toBe('both');
    expect(by('connection.blocked')).toBe('server');
    expect(by('connection.update-secret')).toBe('client');
    expect(by('channel.close')).toBe('both');
  });

  it('names reserved fields null and renames confirm.select nowait', () => {
    const open = METHODS.find((m) => m.name === 'connection.open');
    expect(open?.fields).toEqual([
      { wireName: 'virtual-host', name: 'virtualHost', type: 'shortstr' },
      { wireName: 'reserved-1', name: null, type: 'shortstr' },
      { wireName: 'reserved-2', name: null, type: 'bit' },
    ]);
    expect(METHODS.find((m) => m.name === 'confirm.select')?.fields).toEqual([{ wireName: 'no-wait', name: 'noWait', type: 'bit' }]);
  });
});

describe('constants', () => {
  it('frames', () => {
    expect(FrameType).toEqual({ METHOD: 1, HEADER: 2, BODY: 3, HEARTBEAT: 8 });
    expect(FRAME_END).toBe(0xce);
    expect(FRAME_MIN_SIZE).toBe(4096);
  });

  it('reply codes with their names and kinds, NO_ROUTE included', () => {
    const theirs = Object.entries(amqplibDefs.constants).filter(([, v]) => v >= 200 && v < 600 && v !== 206);
    for (const [name, code] of theirs) expect(ReplyCode[name as keyof typeof ReplyCode], name).toBe(code);
    expect(ReplyCode.NO_ROUTE).toBe(312);
    expect(REPLY_CODE_KIND.NO_ROUTE).toBe('soft');
    expect(REPLY_CODE_KIND.REPLY_SUCCESS).toBeNull();
    expect(REPLY_CODE_KIND.NOT_FOUND).toBe('soft');
    expect(REPLY_CODE_KIND.FRAME_ERROR).toBe('hard');
    expect(REPLY_CODE_KIND.CONNECTION_FORCED).toBe('hard');
    expect(REPLY_CODE_KIND.UNEXPECTED_FRAME).toBe('hard');
    expect(replyCodeName(505)).toBe('UNEXPECTED_FRAME');
    expect(replyCodeName(599)).toBe('UNKNOWN_599');
  });

  it('basic properties: 14 in wire order, flags from 0x8000 down, as amqplib', () => {
    const theirs = (amqplibDefs['propertiesInfoBasicProperties'] as { args: { name: string; type: string }[] }).args;
    expect(BASIC_PROPERTIES.map((p) => [p.name, p.type])).toEqual(theirs.map((a) => [a.name, a.type]));
    expect(BASIC_PROPERTIES.map((p) => p.flag)).toEqual(Array.from({ length: 14 }, (_, i) => 0x8000 >>> i));
    expect(BasicFlag.clusterId).toBe(0x0004);
  });
});

describe('AmqpError', () => {
  it('carries the name, the number and the scope', () => {
    const e = new AmqpError('NOT_FOUND', "no queue 'q' in vhost '/'", { classId: 50, methodId: 10 });
    expect([e.code, e.replyCode, e.scope, e.isConnectionError, e.classId, e.methodId, e.fatal]).toEqual(['NOT_FOUND', 404, 'channel', false, 50, 10, false]);
    expect(e.replyText).toBe("NOT_FOUND - no queue 'q' in vhost '/'");
    expect(new AmqpError('FRAME_ERROR', 'x').scope).toBe('connection');
    expect(new AmqpError('ACCESS_REFUSED', 'x', { scope: 'connection' }).isConnectionError).toBe(true);
  });

  it('truncates reply texts to a shortstr on a character boundary', () => {
    const t = new AmqpError('NOT_FOUND', 'é'.repeat(300)).replyText;
    expect(Buffer.byteLength(t)).toBeLessThanOrEqual(255);
    expect(t.startsWith('NOT_FOUND - éé')).toBe(true);
    expect(t.endsWith('é')).toBe(true);
  });
});
