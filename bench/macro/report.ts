import { amqpClientName, type BrokerKind } from './driver.js';
import type { RunResults, VariantResult } from './runner.js';
import type { Column, Metrics, Scenario } from './scenario.js';

const NAMES: Record<BrokerKind, string> = { skiff: 'Skiff', 'skiff-amqp': 'Skiff over AMQP', rabbitmq: 'RabbitMQ', nats: 'NATS core' };

export function brokerName(k: BrokerKind): string {
  return NAMES[k];
}

function fmt(v: Metrics[string] | undefined, c: Column): string {
  if (v === undefined || v === null) return '—';
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { maximumFractionDigits: c.digits ?? 1, minimumFractionDigits: c.digits ?? 1 });
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

/** Skiff ÷ other for one metric; null when either side is missing. */
export function ratio(skiff: Metrics, other: Metrics, key: string): number | null {
  const a = skiff[key];
  const b = other[key];
  if (typeof a !== 'number' || typeof b !== 'number' || b === 0 || !Number.isFinite(a) || !Number.isFinite(b)) return null;
  return a / b;
}

export function fmtRatio(r: number | null): string {
  return r === null ? '—' : `${r.toFixed(r >= 10 ? 1 : 2)}×`;
}

/** A scenario's results as a Markdown table, one row per variant × broker, then Skiff/other ratio rows. */
export function scenarioTable(s: Scenario, results: readonly VariantResult[]): string {
  const mine = results.filter((r) => r.scenario === s.name);
  if (mine.length === 0) return '_not run_\n';
  const cols = s.columns;
  const lines = [row(['variant', 'broker', ...cols.map((c) => c.label)]), row(['---', '---', ...cols.map(() => '---:')])];
  const variants = [...new Set(mine.map((r) => r.variant))];
  const ratioLines: string[] = [];
  for (const v of variants) {
    const byBroker = mine.filter((r) => r.variant === v);
    for (const r of byBroker) {
      const failed = Object.keys(r.metrics).length === 0;
      const cells = failed ? cols.map((_, i) => (i === 0 ? `failed: ${r.errors[0] ?? 'no result'}` : '')) : cols.map((c) => fmt(r.metrics[c.key], c));
      lines.push(row([v, brokerName(r.broker), ...cells]));
    }
    for (const skiff of byBroker.filter((r) => r.broker === 'skiff' || r.broker === 'skiff-amqp')) {
      for (const other of byBroker) {
        if (other.broker === 'skiff' || other.broker === 'skiff-amqp') continue;
        const cells = cols.map((c) => (c.better === undefined ? '' : fmtRatio(ratio(skiff.metrics, other.metrics, c.key))));
        if (cells.every((c) => c === '' || c === '—')) continue;
        ratioLines.push(row([v, `${brokerName(skiff.broker)} / ${brokerName(other.broker)}`, ...cells]));
      }
    }
  }
  let out = lines.join('\n') + '\n';
  if (ratioLines.length > 0) {
    out += `\nRatios (Skiff ÷ other; for msg/s higher is better, for latency, RSS and times lower is better):\n\n`;
    out += [row(['variant', 'ratio', ...cols.map((c) => c.label)]), row(['---', '---', ...cols.map(() => '---:')]), ...ratioLines].join('\n') + '\n';
  }
  const errors = mine.filter((r) => r.errors.length > 0 && Object.keys(r.metrics).length > 0);
  for (const e of errors) out += `\n_${brokerName(e.broker)} / ${e.variant}: ${e.errors.length} run(s) failed: ${e.errors[0]}_\n`;
  return out;
}

export function machineLines(r: RunResults): string {
  const m = r.machine;
  const v = r.versions;
  return [
    `- Date: ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC (took ${Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000)} s)`,
    `- Commit: ${r.commit}`,
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ramGiB} GiB; kernel ${m.kernel}; load average at start ${m.loadAtStart.join(' / ')}`,
    `- Node.js ${m.node}; Skiff ${v.skiff ?? '—'}; RabbitMQ ${v.rabbitmq ?? 'not run'} (Debian package, ${amqpClientName() === 'cloudamqp' ? '@cloudamqp/amqp-client' : 'amqplib'} client); NATS ${v.nats ?? 'not run'} (Debian nats-server, nats.js client)`,
    `- Window ${r.options.durationMs / 1000} s after ${r.options.warmupMs / 1000} s warm-up; best of ${r.runs} run(s) per cell`,
  ].join('\n');
}

/** Every scenario's table, for the terminal or RESULTS.md. */
export function fullReport(r: RunResults, scenarios: readonly Scenario[]): string {
  const parts = [machineLines(r), ''];
  for (const s of scenarios) {
    if (!r.results.some((x) => x.scenario === s.name)) continue;
    parts.push(`### ${s.title}`, '', s.about, '', scenarioTable(s, r.results));
  }
  return parts.join('\n');
}
