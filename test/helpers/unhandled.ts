import { afterEach, beforeEach, expect } from 'vitest';

/**
 * Fails each test of the file that leaves an unhandled promise rejection behind (an ignored
 * publish promise must never become one). Call at the top level of a test file.
 */
export function failOnUnhandledRejections(): void {
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => {
    unhandled.push(reason);
  };
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', record);
  });
  afterEach(async () => {
    // Two turns: a rejection is reported after the microtasks of the turn it happened in.
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    process.off('unhandledRejection', record);
    expect(unhandled, 'unhandled rejections').toEqual([]);
  });
}
