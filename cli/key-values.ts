import { usageError } from './exit.js';

/**
 * `key=value` flags (`--argument`, `--header`) as a map. Values are read as JSON when they parse
 * (numbers, booleans, objects: `x-message-ttl=5000`, `n=5`), else kept as strings
 * (`x-dead-letter-exchange=dlx`); `n='"5"'` is the string "5".
 */
export function parseKeyValues(pairs: readonly string[], flag: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`${flag}: expected key=value, got '${pair}'`);
    const text = pair.slice(eq + 1);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // not JSON: a plain string
    }
    out[pair.slice(0, eq)] = value;
  }
  return out;
}
