import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ReplyCode, allMethods, isConnectionCode } from '../../protocol/index.js';

/**
 * protocol/SPEC.md is normative and the codec implements it: these tests fail when one
 * changes without the other (a code or method added, renumbered or renamed on one side).
 */
const spec = readFileSync(new URL('../../protocol/SPEC.md', import.meta.url), 'utf8');

function section(title: string): string {
  const start = spec.indexOf(`\n## ${title}`);
  expect(start, `SPEC.md has a section '## ${title}'`).toBeGreaterThan(-1);
  const end = spec.indexOf('\n## ', start + 1);
  return spec.slice(start, end === -1 ? undefined : end);
}

const hex = (id: number): string => `0x${id.toString(16).padStart(4, '0').toUpperCase()}`;

describe('SPEC.md §4 error codes <-> protocol/codec/codes.ts', () => {
  const rows = [...section('4. Error codes').matchAll(/^\| (\d+) \| `([A-Z_]+)` \| ([^|]+) \|/gm)].map((m) => ({
    code: Number(m[1]),
    name: m[2] as string,
    kind: (m[3] as string).trim(),
  }));

  it('has one row per ReplyCode and no others', () => {
    expect(rows.map((r) => [r.name, r.code])).toEqual(Object.entries(ReplyCode));
  });

  it("says a code closes the connection exactly when isConnectionCode() does", () => {
    for (const r of rows) {
      expect(r.kind === 'connection', `${r.name} is '${r.kind}' in SPEC.md`).toBe(isConnectionCode(r.code));
    }
  });
});

describe('SPEC.md §3 methods <-> protocol/codec/methods.ts', () => {
  const methods = section('3. Methods');
  const lines = methods.split('\n');
  const defined = allMethods();

  it('names every method with its hex id on one line', () => {
    for (const d of defined) {
      const named = lines.some((l) => l.includes(`\`${hex(d.id)}\``) && new RegExp(`\`${d.name.replace('.', '\\.')}[\` ]`).test(l));
      expect(named, `${d.name} (${hex(d.id)}) in SPEC.md §3`).toBe(true);
    }
  });

  it('has no method id the codec does not define', () => {
    const known = new Set(defined.map((d) => hex(d.id)));
    const ids = [...methods.matchAll(/`(0x[0-9A-F]{4})`/g)].map((m) => m[1] as string);
    expect(ids.length).toBeGreaterThan(30);
    expect(ids.filter((id) => !known.has(id))).toEqual([]);
  });

  it('gives each method the direction the codec enforces', () => {
    const dirs: Record<string, string> = { 'S→C': 'server', 'C→S': 'client', both: 'both' };
    let checked = 0;
    for (const m of methods.matchAll(/^\| `(0x[0-9A-F]{4})` \| `([a-z.-]+)` \| (S→C|C→S|both)\b/gm)) {
      const d = defined.find((x) => hex(x.id) === m[1]);
      expect(d?.name).toBe(m[2]);
      expect(d?.from, `${m[2]} direction`).toBe(dirs[m[3] as string]);
      checked++;
    }
    expect(checked).toBeGreaterThan(20);
  });

  it('lists each method\'s arguments in the codec\'s order', () => {
    for (const d of defined) {
      const line = lines.find((l) => l.startsWith(`| \`${hex(d.id)}\``));
      if (line === undefined) continue; // a reply described inline in its request's row
      const list = /`\[(.*?)\]`/.exec(line)?.[1] ?? '';
      const names = list === '' ? [] : list.split(', ').map((a) => (a.split(':')[0] as string).replace('?', ''));
      expect(names, `${d.name} arguments`).toEqual(d.fields.map((f) => f[0]));
    }
  });
});
