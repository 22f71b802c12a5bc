import { readFileSync } from 'node:fs';

/** The parts of a V8 `.cpuprofile` (node --cpu-prof) we read. */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** msgpack.ts holds both directions: these are its decoding functions. */
const DECODE_FNS = new Set(['unpackArgs', 'readShortString', 'readNumber', 'numberWidth', 'unpackWhole', 'unpackProperties', 'unpackValue', 'syntax']);

/**
 * The broker's pipeline, decode → route → enqueue → deliver → encode → write, plus what is not
 * ours (GC, socket syscalls, idle). A frame belongs to the first stage whose rule matches.
 */
const STAGES: { stage: string; test: (fn: string, url: string) => boolean }[] = [
  { stage: 'idle', test: (fn) => fn === '(idle)' },
  { stage: 'gc', test: (fn) => fn === '(garbage collector)' },
  { stage: 'decode', test: (fn, url) => /codec\/(decoder|parse|methods)\.js/.test(url) || DECODE_FNS.has(fn) },
  { stage: 'encode', test: (fn, url) => /codec\/(writer|msgpack)\.js/.test(url) },
  { stage: 'route', test: (_fn, url) => /broker\/exchange\//.test(url) || /broker\/broker\.js/.test(url) },
  { stage: 'enqueue', test: (_fn, url) => /broker\/(queue|deque|message|priority-list)\.js/.test(url) },
  { stage: 'deliver', test: (_fn, url) => /broker\/(channel|consumer|confirms|session)\.js/.test(url) },
  { stage: 'server (dispatch)', test: (_fn, url) => /src\/server\//.test(url) },
  { stage: 'store', test: (_fn, url) => /src\/store\//.test(url) },
  { stage: 'socket read', test: (fn, url) => /onStreamRead|readableAddChunk|addChunk|emit$/.test(fn) || /stream_base_commons|readable\.js/.test(url) },
  { stage: 'socket write', test: (fn, url) => /writev|writeGeneric|writeBuffer|uncork|_write|doWrite|clearBuffer/.test(fn) || /writable\.js|net\.js/.test(url) },
  { stage: 'program (native/other)', test: (fn) => fn === '(program)' },
];

export function stageOf(fn: string, url: string): string {
  for (const s of STAGES) if (s.test(fn, url)) return s.stage;
  return url === '' ? 'native/other' : 'other js';
}

export interface FrameCost {
  name: string;
  stage: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Busy time: everything but (idle). */
  busyMs: number;
  stages: { stage: string; ms: number; pctOfBusy: number }[];
  top: FrameCost[];
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  if (i !== -1) return url.slice(i + 6);
  const n = url.indexOf('node_modules/');
  if (n !== -1) return url.slice(n);
  return url.replace(/^node:/, '');
}

/** Self time per function (hit counts × mean sampling interval), grouped into pipeline stages. */
export function summarizeProfile(file: string, topN = 30): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const totalHits = p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const totalMs = (p.endTime - p.startTime) / 1000;
  const msPerHit = totalHits === 0 ? 0 : totalMs / totalHits;
  const byFrame = new Map<string, FrameCost>();
  const byStage = new Map<string, number>();
  let idleMs = 0;
  for (const n of p.nodes) {
    const hits = n.hitCount ?? 0;
    if (hits === 0) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const fn = functionName === '' ? '(anonymous)' : functionName;
    const stage = stageOf(fn, url);
    const ms = hits * msPerHit;
    if (stage === 'idle') idleMs += ms;
    byStage.set(stage, (byStage.get(stage) ?? 0) + ms);
    const key = url === '' ? fn : `${fn} ${shortUrl(url)}:${lineNumber + 1}`;
    const f = byFrame.get(key) ?? { name: key, stage, selfMs: 0, selfPct: 0 };
    f.selfMs += ms;
    byFrame.set(key, f);
  }
  const busyMs = totalMs - idleMs;
  const top = [...byFrame.values()]
    .filter((f) => f.stage !== 'idle')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, topN)
    .map((f) => ({ ...f, selfPct: busyMs > 0 ? (100 * f.selfMs) / busyMs : 0 }));
  const stages = [...byStage.entries()]
    .filter(([s]) => s !== 'idle')
    .map(([stage, ms]) => ({ stage, ms, pctOfBusy: busyMs > 0 ? (100 * ms) / busyMs : 0 }))
    .sort((a, b) => b.ms - a.ms);
  return { totalMs, busyMs, stages, top };
}

export function formatProfileSummary(s: ProfileSummary): string {
  const lines = [
    `profile: ${(s.totalMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(1)} s (${((100 * s.busyMs) / Math.max(1, s.totalMs)).toFixed(0)} %)`,
    '',
    '| stage | self ms | % of busy |',
    '| --- | ---: | ---: |',
    ...s.stages.map((x) => `| ${x.stage} | ${x.ms.toFixed(0)} | ${x.pctOfBusy.toFixed(1)} |`),
    '',
    '| function (self time) | stage | ms | % of busy |',
    '| --- | --- | ---: | ---: |',
    ...s.top.map((f) => `| \`${f.name}\` | ${f.stage} | ${f.selfMs.toFixed(0)} | ${f.selfPct.toFixed(1)} |`),
  ];
  return lines.join('\n') + '\n';
}
