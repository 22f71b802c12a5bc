import { describe, expect, it } from 'vitest';
import { PolicyBook, checkPolicy, mergeAlternate, mergeQueuePolicy } from '../../src/broker/policy.js';
import { parseQueueArguments } from '../../src/broker/queue-args.js';

/** RabbitMQ's precedence between a queue's `x-` arguments, its policy and an operator policy. */

function effective(policy: Record<string, unknown> | null, operator: Record<string, unknown> | null) {
  const book = new PolicyBook();
  if (policy !== null) book.set('policy', checkPolicy('policy', 'p', { pattern: '.*', definition: policy }));
  if (operator !== null) book.set('operator-policy', checkPolicy('operator-policy', 'op', { pattern: '.*', definition: operator }));
  return book.effective('queues', 'q');
}

function merged(args: Record<string, unknown>, policy: Record<string, unknown> | null, operator: Record<string, unknown> | null = null) {
  return mergeQueuePolicy(parseQueueArguments('q', args), args, effective(policy, operator));
}

describe('precedence', () => {
  // [key in the policy, x-argument, argument value, policy value, operator value, expected]
  const table: [string, string, unknown, unknown, unknown, unknown][] = [
    ['message-ttl', 'x-message-ttl', 5000, 1000, null, 1000],
    ['message-ttl', 'x-message-ttl', 1000, 5000, null, 1000],
    ['message-ttl', 'x-message-ttl', null, 5000, 3000, 3000],
    ['expires', 'x-expires', 9000, 2000, null, 2000],
    ['max-length', 'x-max-length', 10, 20, null, 10],
    ['max-length', 'x-max-length', 30, 20, 25, 20],
    ['max-length', 'x-max-length', 30, 20, 5, 5],
    ['max-length-bytes', 'x-max-length-bytes', 100, 50, null, 50],
    ['delivery-limit', 'x-delivery-limit', 2, 7, null, 2],
    ['overflow', 'x-overflow', 'reject-publish', 'drop-head', null, 'reject-publish'],
    ['overflow', 'x-overflow', null, 'reject-publish-dlx', null, 'reject-publish-dlx'],
    ['dead-letter-exchange', 'x-dead-letter-exchange', 'mine', 'policy-dlx', null, 'mine'],
    ['dead-letter-exchange', 'x-dead-letter-exchange', null, 'policy-dlx', null, 'policy-dlx'],
  ];
  const field: Record<string, string> = {
    'message-ttl': 'messageTtl',
    expires: 'expires',
    'max-length': 'maxLength',
    'max-length-bytes': 'maxLengthBytes',
    'delivery-limit': 'deliveryLimit',
    overflow: 'overflow',
    'dead-letter-exchange': 'deadLetterExchange',
  };
  it.each(table)('%s: argument %s=%j, policy %j, operator %j → %j', (key, arg, argValue, policyValue, opValue, expected) => {
    const args = argValue === null ? {} : { [arg]: argValue };
    const p = merged(args, { [key]: policyValue }, opValue === null ? null : { [key]: opValue });
    expect((p as unknown as Record<string, unknown>)[field[key] as string]).toBe(expected);
  });

  it('a dead-letter-routing-key from the policy joins the argument dead-letter-exchange; the argument key wins', () => {
    expect(merged({ 'x-dead-letter-exchange': 'x' }, { 'dead-letter-exchange': 'y', 'dead-letter-routing-key': 'k' })?.deadLetterRoutingKey).toBe('k');
    expect(merged({ 'x-dead-letter-exchange': 'x', 'x-dead-letter-routing-key': 'a' }, { 'dead-letter-exchange': 'y', 'dead-letter-routing-key': 'k' })?.deadLetterRoutingKey).toBe('a');
  });

  it('no argument and no policy stays null (the hot path tests one field)', () => {
    expect(merged({}, null)).toBeNull();
  });

  it('the highest priority wins; a tie goes to the name that sorts last; apply-to filters', () => {
    const book = new PolicyBook();
    book.set('policy', checkPolicy('policy', 'low', { pattern: '^a', priority: 1, definition: { 'max-length': 1 } }));
    book.set('policy', checkPolicy('policy', 'high', { pattern: '^a', priority: 5, definition: { 'max-length': 2 } }));
    book.set('policy', checkPolicy('policy', 'ex', { pattern: '^a', priority: 9, applyTo: 'exchanges', definition: { 'alternate-exchange': 'ae' } }));
    expect(book.effective('queues', 'abc')?.policy).toBe('high');
    expect(book.effective('queues', 'zzz')).toBeNull();
    expect(mergeAlternate(null, book.effective('exchanges', 'abc'))).toBe('ae');
    expect(mergeAlternate('own', book.effective('exchanges', 'abc'))).toBe('own');
    book.set('policy', checkPolicy('policy', 'tie', { pattern: '^a', priority: 5, definition: { 'max-length': 3 } }));
    expect(book.effective('queues', 'abc')?.policy).toBe('tie');
  });
});
