/**
 * The Skiff TypeScript client.
 *
 * ```ts
 * import { connect } from 'skiffmq';
 * const conn = await connect('skiff://guest:guest@127.0.0.1:5680');
 * const ch = await conn.channel();
 * ```
 */
export { connect, tcpTransport, nodeTransport } from './transport/tcp.js';
export * from './api.js';
export { exportDefinitions, importDefinitions, parseDefinitions, definitionsCount, DefinitionsError } from './definitions.js';
export type { Definitions, ExchangeDefinition, QueueDefinition, BindingDefinition } from './definitions.js';
