/**
 * `npm run bench -- <scenario> [options]`: runs one scenario (or `all`) against a self-started
 * or running broker and prints the tables. The broker and the load generators are separate
 * processes: see bench/RESULTS.md for the method.
 */
import { writeFileSync } from 'node:fs';
import { killStartedOnSignal } from './brokers/broker.js';
import { OPTION_HELP, parseCli } from './cli-options.js';
import { fullReport } from './report.js';
import { runBench } from './runner.js';
import { SCENARIOS, scenarioByName } from './scenarios/index.js';

const USAGE = `usage: npm run bench -- <scenario|all> [options]

Scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(11)} ${s.title}`).join('\n')}

${OPTION_HELP}`;

async function main(): Promise<number> {
  let cli;
  try {
    cli = parseCli(process.argv.slice(2), { brokers: ['skiff'], runs: 1 });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (cli.help || cli.positionals.length === 0) {
    process.stdout.write(`${USAGE}\n`);
    return cli.help ? 0 : 2;
  }
  const names = cli.positionals;
  const scenarios = names.includes('all') ? SCENARIOS : names.map((n) => scenarioByName(n));
  const unknown = names.filter((n, i) => n !== 'all' && scenarios[i] === undefined);
  if (unknown.length > 0) {
    process.stderr.write(`unknown scenario '${unknown[0]}'\n\n${USAGE}\n`);
    return 2;
  }
  const chosen = scenarios.filter((s) => s !== undefined);
  const results = await runBench({
    scenarios: chosen,
    brokers: cli.brokers,
    options: cli.options,
    runs: cli.runs,
    ...(cli.variant !== undefined && { variantFilter: cli.variant }),
    ...(cli.url !== undefined && { url: cli.url }),
    ...(cli.pid !== undefined && { pid: cli.pid }),
    log: (s) => process.stderr.write(`${s}\n`),
  });
  process.stdout.write(`\n${fullReport(results, chosen)}\n`);
  if (cli.json !== undefined) writeFileSync(cli.json, JSON.stringify(results, null, 2));
  return results.results.some((r) => Object.keys(r.metrics).length === 0) ? 1 : 0;
}

killStartedOnSignal();
process.exitCode = await main();
