import { describe, expect, it } from 'vitest';
import { usePolicyServer } from '../helpers/clock-server.js';

const server = usePolicyServer();

/** Declares on a fresh channel and returns the channel error's reply code and text. */
async function declareError(args: Record<string, unknown>, name = 'q'): Promise<{ replyCode: number; message: string }> {
  const ch = await server().channel({ confirm: false });
  const err = (await ch.declareQueue(name, { arguments: args }).then(
    () => null,
    (e: unknown) => e,
  )) as { replyCode: number; message: string } | null;
  if (err === null) throw new Error(`declare with ${JSON.stringify(args)} succeeded`);
  return { replyCode: err.replyCode, message: err.message };
}

const bad = (arg: string, reason: string): string => `PRECONDITION_FAILED - invalid arg '${arg}' for queue 'q' in vhost '/': ${reason}`;

// [arguments, message]: every bad queue argument is PRECONDITION_FAILED naming it (SPEC §3.4.1).
const INVALID: [Record<string, unknown>, string][] = [
  [{ 'x-bogus': 1 }, "PRECONDITION_FAILED - unknown queue argument 'x-bogus'"],
  [{ 'x-message-ttl': -1 }, bad('x-message-ttl', 'expected a non-negative integer, got -1')],
  [{ 'x-message-ttl': 1.5 }, bad('x-message-ttl', 'expected a non-negative integer, got 1.5')],
  [{ 'x-message-ttl': '1000' }, bad('x-message-ttl', "expected a non-negative integer, got '1000'")],
  [{ 'x-expires': 0 }, bad('x-expires', 'expected a positive integer, got 0')],
  [{ 'x-expires': -5 }, bad('x-expires', 'expected a positive integer, got -5')],
  [{ 'x-max-length': -1 }, bad('x-max-length', 'expected a non-negative integer, got -1')],
  [{ 'x-max-length-bytes': true }, bad('x-max-length-bytes', 'expected a non-negative integer, got true')],
  [{ 'x-overflow': 'drop-tail' }, bad('x-overflow', "expected 'drop-head', 'reject-publish' or 'reject-publish-dlx', got 'drop-tail'")],
  [{ 'x-dead-letter-exchange': 5 }, bad('x-dead-letter-exchange', 'expected a string, got 5')],
  [{ 'x-dead-letter-exchange': 'dlx', 'x-dead-letter-routing-key': ['k'] }, bad('x-dead-letter-routing-key', 'expected a string, got ["k"]')],
  [{ 'x-dead-letter-routing-key': 'k' }, bad('x-dead-letter-routing-key', "requires 'x-dead-letter-exchange'")],
  [{ 'x-max-priority': 0 }, bad('x-max-priority', 'expected an integer from 1 to 255, got 0')],
  [{ 'x-max-priority': 256 }, bad('x-max-priority', 'expected an integer from 1 to 255, got 256')],
  [{ 'x-max-priority': null }, bad('x-max-priority', 'expected an integer from 1 to 255, got nil')],
  [{ 'x-delivery-limit': -2 }, bad('x-delivery-limit', 'expected a non-negative integer, got -2')],
  [{ 'x-consumer-timeout': 'soon' }, bad('x-consumer-timeout', "expected a non-negative integer, got 'soon'")],
];

describe('queue and exchange arguments are checked (SPEC §3.3.1, §3.4.1)', () => {
  it.each(INVALID)('queue arguments %j are refused', async (args, message) => {
    expect(await declareError(args)).toEqual({ replyCode: 406, message });
    // Nothing was created.
    expect(server().broker.queues.has('q')).toBe(false);
  });

  it('accepts every known argument together, and keys without x- are kept and ignored', async () => {
    const ch = await server().channel();
    const args = {
      'x-message-ttl': 60_000,
      'x-expires': 3_600_000,
      'x-max-length': 10,
      'x-max-length-bytes': 1_000_000,
      'x-overflow': 'reject-publish-dlx',
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
      'x-max-priority': 10,
      'x-delivery-limit': 3,
      'x-consumer-timeout': 30_000,
      note: 'anything',
    };
    await ch.declareQueue('q', { arguments: args });
    expect(server().broker.queues.get('q')?.arguments).toEqual(args);
    // An identical re-declare is fine.
    await ch.declareQueue('q', { arguments: args });
  });

  it('re-declaring with other x- arguments is PRECONDITION_FAILED naming the argument', async () => {
    const ch = await server().channel();
    await ch.declareQueue('q', { arguments: { 'x-message-ttl': 1000, other: 1 } });
    await ch.declareQueue('q', { arguments: { 'x-message-ttl': 1000, other: 2 } }); // non-x keys do not count
    const cases: [Record<string, unknown>, string][] = [
      [{}, "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received none but current is 1000"],
      [{ 'x-message-ttl': 2000 }, "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received 2000 but current is 1000"],
      [{ 'x-message-ttl': 1000, 'x-max-length': 5 }, "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received 5 but current is none"],
    ];
    for (const [args, message] of cases) {
      const c = await server().channel({ confirm: false });
      await expect(c.declareQueue('q', { arguments: args })).rejects.toMatchObject({ replyCode: 406, message: `PRECONDITION_FAILED - ${message}` });
    }
    // A passive declare checks nothing but existence.
    expect((await ch.declareQueue('q', { passive: true })).queue).toBe('q');
  });

  it('exchange arguments: alternate-exchange must be a string, unknown x- keys are refused', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ 'x-foo': 1 }, "PRECONDITION_FAILED - unknown exchange argument 'x-foo'"],
      [{ 'alternate-exchange': 5 }, "PRECONDITION_FAILED - invalid arg 'alternate-exchange' for exchange 'x' in vhost '/': expected a string, got 5"],
    ];
    for (const [args, message] of cases) {
      const ch = await server().channel({ confirm: false });
      await expect(ch.declareExchange('x', 'topic', { arguments: args })).rejects.toMatchObject({ replyCode: 406, message });
    }
    const ch = await server().channel({ confirm: false });
    await ch.declareExchange('x', 'topic', { arguments: { 'alternate-exchange': 'ae', comment: 'kept' } });
    await expect(ch.declareExchange('x', 'topic', { arguments: { 'alternate-exchange': 'other' } })).rejects.toMatchObject({
      replyCode: 406,
      message: "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'x' in vhost '/': received 'other' but current is 'ae'",
    });
  });

  it('headers bindings: an unknown x-match is refused', async () => {
    const ch = await server().channel({ confirm: false });
    await ch.declareExchange('h', 'headers');
    await ch.declareQueue('q');
    await expect(ch.bindQueue('q', 'h', '', { 'x-match': 'some' })).rejects.toMatchObject({
      replyCode: 406,
      message:
        "PRECONDITION_FAILED - invalid arg 'x-match' for binding to exchange 'h' in vhost '/': expected 'all', 'any', 'all-with-x' or 'any-with-x', got 'some'",
    });
  });
});
