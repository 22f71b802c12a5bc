/**
 * `npm run profile -- <scenario> [--tools cpu,doctor,flame] [bench options]`: runs one variant
 * of a scenario (the first, or `--variant`) against a Skiff daemon started under each tool in
 * turn — `node --cpu-prof`, clinic doctor, clinic flame — and writes the reports to
 * bench/out/profile/<scenario>-<time>/. The --cpu-prof run is also summarised as text: self time
 * per pipeline stage and the top functions, which is what RESULTS.md quotes.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { formatProfileSummary, summarizeProfile } from './cpu-profile.js';
import { killStartedOnSignal } from './brokers/broker.js';
import { OPTION_HELP, parseCli } from './cli-options.js';
import { outDir } from './paths.js';
import { fullReport } from './report.js';
import { runBench } from './runner.js';
import { scenarioByName, SCENARIOS } from './scenarios/index.js';
import type { SkiffStartOptions } from './brokers/skiff.js';

const TOOLS = ['cpu', 'doctor', 'flame'] as const;
type Tool = (typeof TOOLS)[number];

function clinicBin(): string | null {
  try {
    return createRequire(import.meta.url).resolve('clinic/bin.js');
  } catch {
    return null;
  }
}

function skiffUnder(tool: Tool, dest: string, clinic: string | null): SkiffStartOptions | null {
  if (tool === 'cpu') return { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dest}`], stopGraceMs: 120_000 };
  if (clinic === null) return null;
  // The daemon gets SIGINT (clinic's Ctrl-C); the wrapper then analyses, which takes a while.
  return { wrap: [process.execPath, clinic, tool, '--open=false', '--dest', dest, '--'], stopSignal: 'SIGINT', stopGraceMs: 5 * 60_000 };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const toolsAt = argv.indexOf('--tools');
  let tools: Tool[] = [...TOOLS];
  if (toolsAt !== -1) {
    tools = (argv[toolsAt + 1] ?? '').split(',').filter((t): t is Tool => (TOOLS as readonly string[]).includes(t));
    argv.splice(toolsAt, 2);
  }
  const cli = parseCli(argv, { brokers: ['skiff'], runs: 1 });
  const scenario = scenarioByName(cli.positionals[0] ?? '');
  if (cli.help || scenario === undefined) {
    process.stdout.write(
      `usage: npm run profile -- <scenario> [--tools ${TOOLS.join(',')}] [options]\n\nScenarios: ${SCENARIOS.map((s) => s.name).join(', ')}\n\n${OPTION_HELP}\n`,
    );
    return cli.help ? 0 : 2;
  }
  // clinic asks about telemetry on first use and checks for updates: neither may happen here.
  process.env['NO_INSIGHT'] = '1';
  process.env['NO_UPDATE_NOTIFIER'] = '1';
  const clinic = clinicBin();
  const variant = cli.variant ?? scenario.variants(cli.options)[0]?.label;
  const dest = outDir(`profile/${scenario.name}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  for (const tool of tools) {
    const skiff = skiffUnder(tool, dest, clinic);
    if (skiff === null) {
      log(`clinic is not installed: skipping ${tool}`);
      continue;
    }
    log(`== ${tool} ==`);
    const r = await runBench({
      scenarios: [scenario],
      brokers: ['skiff'],
      options: cli.options,
      runs: 1,
      ...(variant !== undefined && { variantFilter: variant }),
      skiff,
      log,
    });
    process.stdout.write(`\n${tool}:\n${fullReport(r, [scenario])}\n`);
  }
  const reports = readdirSync(dest).filter((f) => f.endsWith('.html'));
  for (const f of reports) log(`report: bench/out/profile/${dest.split('/').pop()}/${f}`);
  // One profile per thread (the store's sync workers have their own): the event loop's is the biggest.
  const profiles = readdirSync(dest)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(`${dest}/${b}`).size - statSync(`${dest}/${a}`).size);
  if (profiles[0] !== undefined) {
    const text = formatProfileSummary(summarizeProfile(`${dest}/${profiles[0]}`));
    writeFileSync(`${dest}/summary.md`, text);
    process.stdout.write(`\ncpu profile of the broker (${variant}):\n\n${text}`);
  }
  return 0;
}

killStartedOnSignal();
process.exitCode = await main();
