#!/usr/bin/env node
// Generates the AMQP 0-9-1 method tables and codec from the spec XML:
//
//   npm run gen:amqp                       (node protocol/amqp/generate.mjs)
//   node protocol/amqp/generate.mjs --check  (exit 1 if the committed output is stale)
//   node protocol/amqp/generate.mjs --spec other.xml --out some/dir
//
// Input: RabbitMQ's extended 0-9-1 spec as Debian's amqp-specs package ships it,
// /usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml. It has RabbitMQ's
// basic.nack, confirm.select, exchange.bind/unbind and the server-sent basic.ack/nack/cancel,
// but not the later extensions RabbitMQ's own code generator adds from its JSON spec
// (rabbitmq-codegen amqp-rabbitmq-0.9.1.json): connection.blocked/unblocked,
// connection.update-secret(-ok), the NO_ROUTE reply code used by basic.return, and the name
// `cluster-id` of the basic class's 14th property (`reserved` in the XML). EXTENSIONS below
// adds exactly those; the generator refuses to add one the XML already has.
//
// Output (both committed; test/unit/amqp-spec.test.ts fails when they are stale):
// - spec.generated.ts: constants, reply codes (hard/soft), class and method ids, a named
//   argument interface per method, the method table, the basic properties and their flags.
// - methods.generated.ts: straight-line encode/decode functions per method and for the basic
//   properties, and the dispatching decodeMethodArgs/encodeMethodArgs/maxMethodArgsSize.
//
// Naming: fields are camelCased (`routing-key` -> routingKey); confirm.select's `nowait` is
// renamed noWait like every other class's `no-wait`. Reserved fields (`reserved-1`, ...) are
// written as zero/empty and skipped when read, so they appear in no interface.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};
const SPEC = opt('--spec', '/usr/share/amqp/specs/0-9-1-rabbit/amqp0-9-1.stripped.extended.xml');
const OUT = opt('--out', here);
const CHECK = argv.includes('--check');

/** RabbitMQ's extensions that the Debian XML lacks (see the header). */
const EXTENSIONS = {
  constants: [{ name: 'no-route', value: 312, class: 'soft-error' }],
  methods: {
    connection: [
      { name: 'blocked', index: 60, synchronous: false, content: false, sentBy: 'server', fields: [{ name: 'reason', type: 'shortstr' }] },
      { name: 'unblocked', index: 61, synchronous: false, content: false, sentBy: 'server', fields: [] },
      {
        name: 'update-secret',
        index: 70,
        synchronous: true,
        content: false,
        sentBy: 'client',
        fields: [
          { name: 'new-secret', type: 'longstr' },
          { name: 'reason', type: 'shortstr' },
        ],
      },
      { name: 'update-secret-ok', index: 71, synchronous: true, content: false, sentBy: 'server', fields: [] },
    ],
  },
  renamedProperties: { basic: { reserved: 'cluster-id' } },
  renamedFields: { nowait: 'no-wait' },
};

// ---------------------------------------------------------------------------------------------
// Reading the XML. The stripped spec is regular: attributes in double quotes, no CDATA, methods
// never nested, so a few regular expressions read it exactly.

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-z-]+)="([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

function parseSpec(xml) {
  xml = xml.replace(/<!--[\s\S]*?-->/g, '');
  const root = attrs(/<amqp\b[^>]*>/.exec(xml)[0]);
  const constants = [...xml.matchAll(/<constant\b[^>]*\/>/g)].map((m) => {
    const a = attrs(m[0]);
    return { name: a.name, value: Number(a.value), class: a.class ?? null };
  });
  const domains = new Map([...xml.matchAll(/<domain\b[^>]*>/g)].map((m) => [attrs(m[0]).name, attrs(m[0]).type]));
  const classes = [];
  for (const cm of xml.matchAll(/<class\b([^>]*)>([\s\S]*?)<\/class>/g)) {
    const ca = attrs(cm[1]);
    const body = cm[2];
    const methods = [];
    for (const mm of body.matchAll(/<method\b([^>]*)>([\s\S]*?)<\/method>/g)) {
      const ma = attrs(mm[1]);
      const chassis = [...mm[2].matchAll(/<chassis\b[^>]*>/g)].map((c) => attrs(c[0]).name);
      const receivedByServer = chassis.includes('server');
      const receivedByClient = chassis.includes('client');
      methods.push({
        name: ma.name,
        index: Number(ma.index),
        synchronous: ma.synchronous === '1',
        content: ma.content === '1',
        sentBy: receivedByServer && receivedByClient ? 'both' : receivedByServer ? 'client' : 'server',
        responses: [...mm[2].matchAll(/<response\b[^>]*>/g)].map((r) => attrs(r[0]).name),
        fields: fieldsOf(mm[2], domains),
      });
    }
    const outside = body.replace(/<method\b[\s\S]*?<\/method>/g, '');
    classes.push({ name: ca.name, index: Number(ca.index), properties: fieldsOf(outside, domains), methods });
  }
  return { major: Number(root.major), minor: Number(root.minor), revision: Number(root.revision), constants, classes };
}

function fieldsOf(xml, domains) {
  return [...xml.matchAll(/<field\b[^>]*>/g)].map((m) => {
    const a = attrs(m[0]);
    let type = a.type ?? a.domain;
    const seen = new Set();
    while (domains.has(type) && domains.get(type) !== type) {
      if (seen.has(type)) throw new Error(`domain cycle at ${type}`);
      seen.add(type);
      type = domains.get(type);
    }
    if (!PRIMITIVES.has(type)) throw new Error(`field ${a.name}: unknown type ${type}`);
    return { name: a.name, type, reserved: a.reserved === '1' };
  });
}

const PRIMITIVES = new Set(['octet', 'short', 'long', 'longlong', 'bit', 'shortstr', 'longstr', 'timestamp', 'table']);

function applyExtensions(spec) {
  for (const c of EXTENSIONS.constants) {
    if (spec.constants.some((k) => k.name === c.name || k.value === c.value)) throw new Error(`constant ${c.name} is already in the spec`);
    spec.constants.push(c);
  }
  for (const [cls, methods] of Object.entries(EXTENSIONS.methods)) {
    const c = spec.classes.find((k) => k.name === cls);
    for (const m of methods) {
      if (c.methods.some((k) => k.name === m.name || k.index === m.index)) throw new Error(`${cls}.${m.name} is already in the spec`);
      c.methods.push({ responses: [], ...m, fields: m.fields.map((f) => ({ ...f, reserved: false })) });
    }
  }
  for (const [cls, renames] of Object.entries(EXTENSIONS.renamedProperties)) {
    for (const p of spec.classes.find((k) => k.name === cls).properties) p.name = renames[p.name] ?? p.name;
  }
  for (const c of spec.classes) {
    for (const m of c.methods) for (const f of m.fields) f.name = EXTENSIONS.renamedFields[f.name] ?? f.name;
  }
  spec.constants.sort((a, b) => a.value - b.value);
  return spec;
}

// ---------------------------------------------------------------------------------------------
// Names

const camel = (s) => s.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
const pascal = (s) => camel(s).replace(/^[a-z]/, (c) => c.toUpperCase());
const upper = (s) => s.replace(/-/g, '_').toUpperCase();

const TS_TYPE = {
  octet: 'number',
  short: 'number',
  long: 'number',
  longlong: 'number',
  timestamp: 'number',
  bit: 'boolean',
  shortstr: 'string',
  longstr: 'Buffer',
  table: 'FieldTable',
};
const FIXED_SIZE = { octet: 1, short: 2, long: 4, longlong: 8, timestamp: 8 };

function methodsOf(spec) {
  const out = [];
  for (const c of spec.classes) {
    for (const m of c.methods) {
      out.push({
        ...m,
        cls: c,
        id: (c.index << 16) | m.index,
        full: `${c.name}.${m.name}`,
        type: pascal(c.name) + pascal(m.name),
        fields: m.fields.map((f) => ({ ...f, prop: camel(f.name) })),
      });
    }
  }
  return out;
}

const hex = (id) => `0x${id.toString(16).padStart(8, '0')}`;
const doc = (lines) => ['/**', ...lines.map((l) => ` * ${l}`.trimEnd()), ' */'];

// ---------------------------------------------------------------------------------------------
// spec.generated.ts

function genSpec(spec, source) {
  const methods = methodsOf(spec);
  const L = [];
  L.push(`// Generated by protocol/amqp/generate.mjs from ${source}`);
  L.push('// and RabbitMQ extensions it lacks (see the generator). Do not edit; run `npm run gen:amqp`.');
  L.push("import type { FieldTable } from './values.js';");
  L.push('');
  L.push(...doc([`Protocol version of the spec: ${spec.major}-${spec.minor}-${spec.revision}.`]));
  L.push(`export const AMQP_VERSION = { major: ${spec.major}, minor: ${spec.minor}, revision: ${spec.revision} } as const;`);
  L.push('');
  const frames = spec.constants.filter((c) => c.name.startsWith('frame-') && !['frame-min-size', 'frame-end', 'frame-error'].includes(c.name));
  L.push('/** Frame types (spec §4.2.3). */');
  L.push('export const FrameType = {');
  for (const c of frames) L.push(`  ${upper(c.name.slice(6))}: ${c.value},`);
  L.push('} as const;');
  L.push('export type FrameType = (typeof FrameType)[keyof typeof FrameType];');
  L.push('');
  const minSize = spec.constants.find((c) => c.name === 'frame-min-size').value;
  const end = spec.constants.find((c) => c.name === 'frame-end').value;
  L.push('/** Every frame ends with this octet (0xCE). */');
  L.push(`export const FRAME_END = ${end};`);
  L.push('/** The smallest frame-max a peer may negotiate. */');
  L.push(`export const FRAME_MIN_SIZE = ${minSize};`);
  L.push('');
  // reply codes: 200-599, but frame-end (206) and the other frame constants are not
  const replies = spec.constants.filter((c) => c.name === 'frame-error' || (c.value >= 200 && c.value < 600 && !c.name.startsWith('frame-')));
  L.push('/** Reply codes by name, for `connection.close`, `channel.close` and `basic.return`. */');
  L.push('export const ReplyCode = {');
  for (const c of replies) L.push(`  ${upper(c.name)}: ${c.value},`);
  L.push('} as const;');
  L.push('export type ReplyCodeName = keyof typeof ReplyCode;');
  L.push('');
  L.push(
    ...doc([
      'Whether a reply code is a connection exception (`hard`: the whole connection closes) or a',
      'channel exception (`soft`: only that channel closes); `null` for codes that are no error.',
    ]),
  );
  L.push("export const REPLY_CODE_KIND: { readonly [K in ReplyCodeName]: 'hard' | 'soft' | null } = {");
  for (const c of replies) L.push(`  ${upper(c.name)}: ${c.class === null ? 'null' : `'${c.class.replace('-error', '')}'`},`);
  L.push('};');
  L.push('');
  L.push('/** Class ids. */');
  L.push('export const ClassId = {');
  for (const c of spec.classes) L.push(`  ${upper(c.name)}: ${c.index},`);
  L.push('} as const;');
  L.push('');
  L.push(...doc(['Method ids as one number: class id in the high 16 bits, method id in the low 16, as on the', 'wire (amqplib uses the same numbers).']));
  L.push('export const Method = {');
  for (const m of methods) L.push(`  ${m.type}: ${hex(m.id)},`);
  L.push('} as const;');
  L.push('export type MethodId = (typeof Method)[keyof typeof Method];');
  L.push('');
  for (const m of methods) {
    const fields = m.fields.filter((f) => !f.reserved);
    L.push(`/** \`${m.full}\` arguments (${m.cls.index}, ${m.index}). */`);
    if (fields.length === 0) {
      L.push(`export type ${m.type}Args = Record<never, never>;`);
    } else {
      L.push(`export interface ${m.type}Args {`);
      for (const f of fields) L.push(`  ${f.prop}: ${TS_TYPE[f.type]};`);
      L.push('}');
    }
    L.push(`/** A decoded \`${m.full}\`. */`);
    L.push(`export type ${m.type} = ${m.type}Args & { readonly id: ${hex(m.id)} };`);
    L.push('');
  }
  L.push('/** Any decoded method; narrow it by `id`. */');
  L.push(`export type AmqpMethod =\n${methods.map((m) => `  | ${m.type}`).join('\n')};`);
  L.push('');
  L.push('/** Methods followed by a content header and body frames. */');
  L.push(`export type ContentMethod = ${methods.filter((m) => m.content).map((m) => m.type).join(' | ')};`);
  L.push('');
  L.push('/** The argument interface of each method id. */');
  L.push('export interface MethodArgsMap {');
  for (const m of methods) L.push(`  ${hex(m.id)}: ${m.type}Args;`);
  L.push('}');
  L.push('');
  L.push('/** One argument of a method, as the spec types it after domains are resolved. */');
  L.push('export interface FieldInfo {');
  L.push('  /** The spec name (`routing-key`). */');
  L.push('  readonly wireName: string;');
  L.push('  /** The property name in the argument interface (`routingKey`); `null` for reserved fields. */');
  L.push('  readonly name: string | null;');
  L.push("  readonly type: 'octet' | 'short' | 'long' | 'longlong' | 'bit' | 'shortstr' | 'longstr' | 'timestamp' | 'table';");
  L.push('}');
  L.push('');
  L.push('/** What the spec says about a method. */');
  L.push('export interface MethodInfo {');
  L.push('  readonly id: MethodId;');
  L.push('  /** `class.method` as the spec names it (`basic.get-ok`). */');
  L.push('  readonly name: string;');
  L.push('  readonly classId: number;');
  L.push('  readonly methodIndex: number;');
  L.push('  readonly synchronous: boolean;');
  L.push('  /** Followed by a content header and body frames. */');
  L.push('  readonly content: boolean;');
  L.push('  /** Which peer may send it. */');
  L.push("  readonly sentBy: 'client' | 'server' | 'both';");
  L.push('  /** Names of the methods that answer it. */');
  L.push('  readonly responses: readonly string[];');
  L.push('  readonly fields: readonly FieldInfo[];');
  L.push('}');
  L.push('');
  L.push('/** Every method of the spec, in spec order. */');
  L.push('export const METHODS: readonly MethodInfo[] = [');
  for (const m of methods) {
    const fields = m.fields.map((f) => `{ wireName: '${f.name}', name: ${f.reserved ? 'null' : `'${f.prop}'`}, type: '${f.type}' }`);
    L.push('  {');
    L.push(`    id: ${hex(m.id)},`);
    L.push(`    name: '${m.full}',`);
    L.push(`    classId: ${m.cls.index},`);
    L.push(`    methodIndex: ${m.index},`);
    L.push(`    synchronous: ${m.synchronous},`);
    L.push(`    content: ${m.content},`);
    L.push(`    sentBy: '${m.sentBy}',`);
    L.push(`    responses: [${m.responses.map((r) => `'${m.cls.name}.${r}'`).join(', ')}],`);
    L.push(fields.length === 0 ? '    fields: [],' : `    fields: [\n${fields.map((f) => `      ${f},`).join('\n')}\n    ],`);
    L.push('  },');
  }
  L.push('];');
  L.push('');
  const basic = spec.classes.find((c) => c.name === 'basic');
  L.push(...doc(['The basic class\'s content properties. Each present property sets its flag bit in the content', 'header\'s property flags; the values follow in this order.']));
  L.push('export interface BasicProperties {');
  for (const p of basic.properties) L.push(`  ${camel(p.name)}?: ${TS_TYPE[p.type]} | undefined;`);
  L.push('}');
  L.push('');
  L.push('/** Property flag bits (the first property is the highest bit, 0x8000). */');
  L.push('export const BasicFlag = {');
  basic.properties.forEach((p, i) => L.push(`  ${camel(p.name)}: 0x${(0x8000 >>> i).toString(16).padStart(4, '0')},`));
  L.push('} as const;');
  L.push('');
  L.push('/** The basic properties in wire order, with their flags and types. */');
  L.push("export const BASIC_PROPERTIES: readonly { readonly name: keyof BasicProperties; readonly wireName: string; readonly flag: number; readonly type: FieldInfo['type'] }[] = [");
  basic.properties.forEach((p, i) =>
    L.push(`  { name: '${camel(p.name)}', wireName: '${p.name}', flag: 0x${(0x8000 >>> i).toString(16).padStart(4, '0')}, type: '${p.type}' },`),
  );
  L.push('];');
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// methods.generated.ts: decoding

/**
 * A straight-line decoder. Fields are read in runs: one bounds check covers a run's fixed-size
 * bytes (bit octets included) up to and including the next length prefix, plus the bytes of
 * the length-prefixed value before it, so a method costs a handful of compares.
 */
function genDecode(m) {
  const checkedStr = !m.content; // RabbitMQ validates UTF-8 in non-content methods only
  const fields = m.fields;
  const out = [];
  const body = [];
  let i = 0;
  let bitGroup = -1;
  let bitIndex = 0;
  let groups = 0;
  let pendingValue = null; // a length-prefixed field whose length `n` is read but not checked
  for (;;) {
    let need = 0;
    const run = [];
    let next = null;
    while (i < fields.length) {
      const f = fields[i];
      const v = `f${i}`;
      i++;
      if (f.type === 'bit') {
        if (bitGroup < 0 || bitIndex === 8) {
          need += 1;
          bitGroup = groups++;
          bitIndex = 0;
          run.push(`  const bits${bitGroup} = b[p++] as number;`);
        }
        if (!f.reserved) out.push(`${f.prop}: (bits${bitGroup} & ${1 << bitIndex}) !== 0`);
        bitIndex++;
        continue;
      }
      bitGroup = -1;
      if (f.type in FIXED_SIZE) {
        need += FIXED_SIZE[f.type];
        const read = { octet: 'b[p] as number', short: 'readU16(b, p)', long: 'readU32(b, p)', longlong: 'readU64(b, p)', timestamp: 'readU64(b, p)' }[f.type];
        if (!f.reserved) {
          run.push(`  const ${v} = ${read};`);
          out.push(`${f.prop}: ${v}`);
        }
        run.push(`  p += ${FIXED_SIZE[f.type]};`);
        continue;
      }
      need += f.type === 'shortstr' ? 1 : 4;
      if (f.type === 'shortstr') run.push('  n = b[p++] as number;');
      else run.push('  n = readU32(b, p);', '  p += 4;');
      if (!f.reserved) out.push(`${f.prop}: ${v}`);
      next = { f, v };
      break;
    }
    const total = pendingValue !== null ? (need > 0 ? `n + ${need}` : 'n') : need > 0 ? String(need) : null;
    if (total !== null) body.push(`  if (end - p < ${total}) throw truncated();`);
    if (pendingValue !== null) body.push(...readValue(pendingValue, checkedStr));
    body.push(...run);
    pendingValue = next;
    if (next === null) break;
  }
  // A bit octet holding only reserved bits is skipped, not read.
  for (let g = 0; g < groups; g++) {
    if (!out.some((o) => o.includes(`bits${g} `))) body[body.indexOf(`  const bits${g} = b[p++] as number;`)] = '  p++;';
  }
  const L = [`function decode${m.type}(b: Buffer, p: number, end: number): ${m.type} {`];
  if (fields.some((f) => f.type === 'shortstr' || f.type === 'longstr' || f.type === 'table')) L.push('  let n: number;');
  L.push(...body);
  L.push('  if (p !== end) throw trailing(end - p);');
  L.push(`  return { id: ${hex(m.id)}${out.length ? ', ' + out.join(', ') : ''} };`);
  L.push('}');
  return L;
}

function readValue({ f, v }, checkedStr) {
  const L = [];
  if (!f.reserved) {
    const read = {
      shortstr: checkedStr ? 'readShortstrChecked(b, p, n)' : 'readShortstr(b, p, n)',
      longstr: 'Buffer.from(b.subarray(p, p + n))',
      table: 'decodeTable(b, p, p + n)',
    }[f.type];
    L.push(`  const ${v} = ${read};`);
  }
  L.push('  p += n;');
  return L;
}

// ---------------------------------------------------------------------------------------------
// methods.generated.ts: encoding

function genEncode(m) {
  const L = [];
  const fields = m.fields;
  const live = fields.filter((f) => !f.reserved);
  const argsType = `${m.type}Args`;
  const a = live.length > 0 ? 'a' : '_a';
  L.push(`function encode${m.type}(b: Buffer, p: number, ${a}: ${argsType}): number {`);
  let bits = null;
  let bitIndex = 0;
  const flushBits = () => {
    if (bits !== null) L.push(`  b[p++] = ${bits.length ? bits.join(' | ') : '0'};`);
    bits = null;
  };
  for (const f of fields) {
    const val = `a.${f.prop}`;
    if (f.type === 'bit') {
      if (bits === null || bitIndex === 8) {
        flushBits();
        bits = [];
        bitIndex = 0;
      }
      if (!f.reserved) bits.push(bitIndex === 0 ? `(${val} ? 1 : 0)` : `(${val} ? ${1 << bitIndex} : 0)`);
      bitIndex++;
      continue;
    }
    flushBits();
    if (f.reserved) {
      if (f.type in FIXED_SIZE) {
        for (let k = 0; k < FIXED_SIZE[f.type]; k++) L.push('  b[p++] = 0;');
      } else if (f.type === 'shortstr') L.push('  b[p++] = 0;');
      else L.push('  p = writeU32(b, p, 0);');
      continue;
    }
    switch (f.type) {
      case 'octet':
        L.push(`  b[p++] = ${val};`);
        break;
      case 'short':
        L.push(`  p = writeU16(b, p, ${val});`);
        break;
      case 'long':
        L.push(`  p = writeU32(b, p, ${val});`);
        break;
      case 'longlong':
      case 'timestamp':
        L.push(`  p = writeU64(b, p, ${val});`);
        break;
      case 'shortstr':
        L.push(`  p = writeShortstr(b, p, ${val});`);
        break;
      case 'longstr':
        L.push(`  p = writeLongstr(b, p, ${val});`);
        break;
      case 'table':
        L.push(`  p = encodeTable(b, p, ${val});`);
        break;
    }
  }
  flushBits();
  L.push('  return p;');
  L.push('}');
  return L;
}

/** An upper bound of the encoded size (exact for fixed fields; 3 bytes per UTF-16 unit of a string). */
function genMaxSize(m) {
  const live = m.fields.filter((f) => !f.reserved);
  let fixed = 0;
  const terms = [];
  let bitOpen = false;
  let bitIndex = 0;
  for (const f of m.fields) {
    if (f.type === 'bit') {
      if (!bitOpen || bitIndex === 8) {
        fixed += 1;
        bitOpen = true;
        bitIndex = 0;
      }
      bitIndex++;
      continue;
    }
    bitOpen = false;
    if (f.type in FIXED_SIZE) fixed += FIXED_SIZE[f.type];
    else if (f.type === 'shortstr') {
      fixed += 1;
      if (!f.reserved) terms.push(`3 * a.${f.prop}.length`);
    } else if (f.type === 'longstr') {
      fixed += 4;
      if (!f.reserved) terms.push(`a.${f.prop}.length`);
    } else {
      if (f.reserved) fixed += 4;
      else terms.push(`tableMaxSize(a.${f.prop})`);
    }
  }
  const a = live.length > 0 && terms.length > 0 ? 'a' : '_a';
  return [`function maxSize${m.type}(${a}: ${m.type}Args): number {`, `  return ${[String(fixed), ...terms].join(' + ')};`, '}'];
}

function genProperties(basic) {
  const L = [];
  const props = basic.properties.map((p, i) => ({ ...p, prop: camel(p.name), flag: 0x8000 >>> i }));
  const flagHex = (f) => `0x${f.toString(16).padStart(4, '0')}`;
  L.push(...doc(['Decodes the property flags and properties of a content header, `b[p, end)`. Properties are', 'not checked for UTF-8 (RabbitMQ does not either); absent ones are `undefined`.']));
  L.push('export function decodeBasicProperties(b: Buffer, p: number, end: number): BasicProperties {');
  L.push('  if (end - p < 2) throw truncated();');
  L.push('  // The two low bits are the continuation flag and a spare; RabbitMQ ignores both.');
  L.push('  const flags = readU16(b, p) & 0xfffc;');
  L.push('  p += 2;');
  L.push('  if (flags === 0) {');
  L.push('    if (p !== end) throw trailing(end - p);');
  L.push('    return EMPTY_PROPERTIES;');
  L.push('  }');
  L.push('  let n: number;');
  for (const p of props) L.push(`  let ${p.prop}: ${TS_TYPE[p.type]} | undefined;`);
  for (const p of props) {
    L.push(`  if ((flags & ${flagHex(p.flag)}) !== 0) {`);
    switch (p.type) {
      case 'shortstr':
        L.push('    if (end - p < 1) throw truncated();', '    n = b[p++] as number;', '    if (end - p < n) throw truncated();');
        L.push(`    ${p.prop} = readShortstr(b, p, n);`, '    p += n;');
        break;
      case 'table':
        L.push('    if (end - p < 4) throw truncated();', '    n = readU32(b, p);', '    p += 4;', '    if (end - p < n) throw truncated();');
        L.push(`    ${p.prop} = decodeTable(b, p, p + n);`, '    p += n;');
        break;
      case 'octet':
        L.push('    if (end - p < 1) throw truncated();', `    ${p.prop} = b[p++] as number;`);
        break;
      case 'timestamp':
        L.push('    if (end - p < 8) throw truncated();', `    ${p.prop} = readU64(b, p);`, '    p += 8;');
        break;
      default:
        throw new Error(`property type ${p.type} not supported`);
    }
    L.push('  }');
  }
  L.push('  if (p !== end) throw trailing(end - p);');
  L.push(`  return { ${props.map((p) => p.prop).join(', ')} };`);
  L.push('}');
  L.push('');
  L.push(...doc(['Writes property flags and properties at `p`; returns the offset after them. `null` and', '`undefined` both mean absent. Needs {@link maxBasicPropertiesSize} bytes of room.']));
  L.push('export function encodeBasicProperties(b: Buffer, p: number, q: BasicProperties): number {');
  L.push('  const at = p;');
  L.push('  let flags = 0;');
  L.push('  p += 2;');
  for (const p of props) {
    L.push(`  if (q.${p.prop} != null) {`);
    L.push(`    flags |= ${flagHex(p.flag)};`);
    const w = { shortstr: 'writeShortstr', table: 'encodeTable', octet: null, timestamp: 'writeU64' }[p.type];
    if (w === null) L.push(`    b[p++] = q.${p.prop};`);
    else L.push(`    p = ${w}(b, p, q.${p.prop});`);
    L.push('  }');
  }
  L.push('  b[at] = flags >>> 8;');
  L.push('  b[at + 1] = flags;');
  L.push('  return p;');
  L.push('}');
  L.push('');
  L.push('/** An upper bound of what {@link encodeBasicProperties} writes. */');
  L.push('export function maxBasicPropertiesSize(q: BasicProperties): number {');
  L.push('  let n = 2;');
  for (const p of props) {
    const size = { shortstr: `1 + 3 * q.${p.prop}.length`, table: `tableMaxSize(q.${p.prop})`, octet: '1', timestamp: '8' }[p.type];
    L.push(`  if (q.${p.prop} != null) n += ${size};`);
  }
  L.push('  return n;');
  L.push('}');
  L.push('');
  L.push('/** The properties of a message that has none (flags 0): shared, so it must not be changed. */');
  L.push('export const EMPTY_PROPERTIES: BasicProperties = Object.freeze({');
  for (const p of props) L.push(`  ${p.prop}: undefined,`);
  L.push('});');
  return L;
}

function genMethods(spec, source) {
  const methods = methodsOf(spec);
  const types = methods.flatMap((m) => [m.type, `${m.type}Args`]);
  const L = [];
  L.push(`// Generated by protocol/amqp/generate.mjs from ${source}`);
  L.push('// and RabbitMQ extensions it lacks (see the generator). Do not edit; run `npm run gen:amqp`.');
  L.push('/* eslint-disable */');
  L.push('import type {');
  L.push('  AmqpMethod,');
  L.push('  BasicProperties,');
  L.push('  MethodArgsMap,');
  L.push('  MethodId,');
  for (const t of types) L.push(`  ${t},`);
  L.push("} from './spec.generated.js';");
  L.push("import { decodeTable, encodeTable, tableMaxSize } from './table.js';");
  L.push("import type { FieldTable } from './values.js';");
  L.push(
    "import { readShortstr, readShortstrChecked, readU16, readU32, readU64, trailing, truncated, writeLongstr, writeShortstr, writeU16, writeU32, writeU64 } from './wire.js';",
  );
  L.push('');
  for (const m of methods) {
    L.push(`// ${m.full}`);
    L.push(...genDecode(m));
    L.push(...genEncode(m));
    L.push(...genMaxSize(m));
    L.push('');
  }
  L.push(
    ...doc([
      'Decodes the arguments of method `id` from `b[p, end)` (the bytes after the class and method',
      'ids); `null` for an id the spec does not have. Throws {@link AmqpError} FRAME_ERROR',
      '(without the method named: the caller adds it) on truncated or malformed arguments.',
    ]),
  );
  L.push('export function decodeMethodArgs(id: number, b: Buffer, p: number, end: number): AmqpMethod | null {');
  L.push('  switch (id) {');
  for (const m of methods) L.push(`    case ${hex(m.id)}:`, `      return decode${m.type}(b, p, end);`);
  L.push('    default:');
  L.push('      return null;');
  L.push('  }');
  L.push('}');
  L.push('');
  L.push(...doc(['Writes the arguments of method `id` at `p`; returns the offset after them. Needs', '{@link maxMethodArgsSize} bytes of room.']));
  L.push('export function encodeMethodArgs<M extends MethodId>(id: M, b: Buffer, p: number, args: MethodArgsMap[M]): number {');
  L.push('  switch (id as MethodId) {');
  for (const m of methods) L.push(`    case ${hex(m.id)}:`, `      return encode${m.type}(b, p, args as ${m.type}Args);`);
  L.push('    default:');
  L.push('      throw new RangeError(`unknown AMQP method id ${id}`);');
  L.push('  }');
  L.push('}');
  L.push('');
  L.push('/** An upper bound of the bytes {@link encodeMethodArgs} writes for these arguments. */');
  L.push('export function maxMethodArgsSize<M extends MethodId>(id: M, args: MethodArgsMap[M]): number {');
  L.push('  switch (id as MethodId) {');
  for (const m of methods) L.push(`    case ${hex(m.id)}:`, `      return maxSize${m.type}(args as ${m.type}Args);`);
  L.push('    default:');
  L.push('      throw new RangeError(`unknown AMQP method id ${id}`);');
  L.push('  }');
  L.push('}');
  L.push('');
  // Hot-path methods are exported by name, so a writer can call them without the switch.
  const hot = ['BasicPublish', 'BasicDeliver', 'BasicGetOk', 'BasicReturn', 'BasicAck', 'BasicNack', 'BasicReject'];
  L.push('/** Hot-path codecs, callable without the dispatch. */');
  L.push(`export { ${hot.flatMap((t) => [`decode${t}`, `encode${t}`, `maxSize${t}`]).join(', ')} };`);
  L.push('');
  L.push(...genProperties(spec.classes.find((c) => c.name === 'basic')));
  return L.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

const spec = applyExtensions(parseSpec(readFileSync(SPEC, 'utf8')));
const source = SPEC.startsWith('/usr/share/amqp/specs/') ? SPEC.slice('/usr/share/amqp/specs/'.length) : SPEC;
const outputs = {
  'spec.generated.ts': genSpec(spec, source),
  'methods.generated.ts': genMethods(spec, source),
};
let stale = false;
for (const [name, text] of Object.entries(outputs)) {
  const path = join(OUT, name);
  if (CHECK) {
    let old = '';
    try {
      old = readFileSync(path, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (old !== text) {
      process.stderr.write(`${path} is stale: run npm run gen:amqp\n`);
      stale = true;
    }
  } else {
    writeFileSync(path, text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
if (stale) process.exit(1);
