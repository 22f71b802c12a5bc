/** The same words on every front end for why publishers are blocked (SPEC §3.1.4). */
export { blockReason } from '../../protocol/index.js';
