import { PassThrough } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatTable, type OutStream } from '../../cli/io.js';
import { Progress } from '../../cli/progress.js';

beforeEach(() => {
  expect.hasAssertions();
});

function stream(tty: boolean): { s: OutStream; text: () => string } {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (tty) s.isTTY = true;
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { s, text: () => text };
}

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers, leaves no trailing spaces', () => {
    const rows = [
      { name: 'orders', ready: 1200, note: 'x' },
      { name: 'q', ready: 7, note: '' },
    ];
    const out = formatTable(rows, [
      { header: 'name', value: (r) => r.name },
      { header: 'ready', value: (r) => r.ready },
      { header: 'note', value: (r) => r.note },
    ]);
    expect(out).toBe(['name    ready  note', 'orders  1,200  x', 'q           7'].join('\n'));
  });

  it('prints just the header for no rows', () => {
    expect(formatTable([], [{ header: 'name', value: () => '' }, { header: 'n', value: () => 1 }])).toBe('name  n');
  });
});

describe('number formats', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [1073741824, '1.0 GiB'],
  ])('formatBytes(%d) = %s', (n, s) => {
    expect(formatBytes(n)).toBe(s);
  });

  it('formatCount groups thousands and keeps one decimal for fractions', () => {
    expect([formatCount(1234567), formatCount(12.34), formatCount(0)]).toEqual(['1,234,567', '12.3', '0']);
  });

  it('formatDuration shows the three largest units', () => {
    expect([formatDuration(999), formatDuration(3_723_000), formatDuration(90_061_000)]).toEqual(['0s', '1h 2m 3s', '1d 1h 1m']);
  });
});

describe('Progress', () => {
  it('draws nothing when the stream is not a terminal', () => {
    const { s, text } = stream(false);
    const p = new Progress(s, 'importing', 10);
    for (let i = 1; i <= 10; i++) p.update(i);
    p.finish();
    expect(text()).toBe('');
  });

  it('draws a bar on one line of a terminal, then clears it', () => {
    const { s, text } = stream(true);
    const p = new Progress(s, 'importing', 4);
    p.update(1);
    p.update(4);
    p.finish();
    const frames = text().split('\r').filter((f) => f !== '');
    expect(frames[0]).toMatch(/^importing \[#{8}-{22}\] 1\/4 25% [\d,]+\/s\u001b\[K$/);
    expect(frames.at(-2)).toMatch(/^importing \[#{30}\] 4\/4 100% [\d,]+\/s\u001b\[K$/);
    expect(frames.at(-1)).toBe('\u001b[K');
  });

  it('counts without a total', () => {
    const { s } = stream(true);
    const p = new Progress(s, 'published', null);
    p.update(12_345);
    expect(p.render(Date.now())).toMatch(/^published 12,345 [\d,]+\/s$/);
  });
});
