/** A key path inside a TOML document: `['port']`, `['users', 1, 'admin']`. */
export type KeyPath = readonly (string | number)[];

const TABLE_ARRAY = /^\s*\[\[\s*([^\]]+?)\s*\]\]/;
const TABLE = /^\s*\[\s*([^\]]+?)\s*\]/;
const KEY = /^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=/;

function splitDotted(key: string): string[] {
  return key.split('.').map((k) => k.trim().replace(/^["']|["']$/g, ''));
}

/**
 * Finds the line each key is defined on, because the TOML parser returns values without
 * positions and a config error should point at its line. It reads the line-oriented subset
 * people write in config files (tables, arrays of tables, `key = value`, dotted keys); keys
 * inside inline tables or multi-line values fall back to the line of their enclosing key.
 */
export class KeyLocator {
  private readonly lines = new Map<string, number>();

  constructor(text: string) {
    const counts = new Map<string, number>();
    let table: (string | number)[] = [];
    let inMultiline: string | null = null;
    text.split(/\r?\n/).forEach((line, i) => {
      const lineNo = i + 1;
      if (inMultiline !== null) {
        if (line.includes(inMultiline)) inMultiline = null;
        return;
      }
      let m = TABLE_ARRAY.exec(line);
      if (m !== null) {
        const name = splitDotted(m[1] as string);
        const id = name.join('.');
        const n = counts.get(id) ?? 0;
        counts.set(id, n + 1);
        table = [...name, n];
        this.remember(name, lineNo);
        this.remember(table, lineNo);
        return;
      }
      m = TABLE.exec(line);
      if (m !== null) {
        table = splitDotted(m[1] as string);
        this.remember(table, lineNo);
        return;
      }
      m = KEY.exec(line);
      if (m !== null) {
        this.remember([...table, ...splitDotted(m[1] as string)], lineNo);
        const rest = line.slice(m[0].length);
        // A multi-line string's later lines could look like keys; skip to its end.
        for (const q of ['"""', "'''"]) {
          const first = rest.indexOf(q);
          if (first !== -1 && rest.indexOf(q, first + 3) === -1) inMultiline = q;
        }
      }
    });
  }

  private remember(path: KeyPath, line: number): void {
    const id = path.join('\u0000');
    if (!this.lines.has(id)) this.lines.set(id, line);
  }

  /** The line of `path`, or of its nearest enclosing key or table; undefined if none is known. */
  line(path: KeyPath): number | undefined {
    for (let n = path.length; n > 0; n--) {
      const line = this.lines.get(path.slice(0, n).join('\u0000'));
      if (line !== undefined) return line;
    }
    return undefined;
  }
}
