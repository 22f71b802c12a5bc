import { DirectExchange } from './direct.js';
import type { Exchange, ExchangeOptions } from './exchange.js';
import { FanoutExchange } from './fanout.js';

/** Exchange types by name; a new type is one line here and one file beside this one. */
export const EXCHANGE_TYPES: ReadonlyMap<string, new (name: string, options: ExchangeOptions) => Exchange> = new Map<
  string,
  new (name: string, options: ExchangeOptions) => Exchange
>([
  ['direct', DirectExchange],
  ['fanout', FanoutExchange],
]);
