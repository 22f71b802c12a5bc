import { DELAYED_TYPE, DelayedExchange } from './delayed.js';
import { DirectExchange } from './direct.js';
import type { Exchange, ExchangeOptions } from './exchange.js';
import { FanoutExchange } from './fanout.js';
import { HeadersExchange } from './headers.js';
import { TopicExchange } from './topic.js';

/** Builds an exchange: name, flags, and its alternate exchange (or null). */
export type ExchangeConstructor = new (name: string, options: ExchangeOptions, alternate: string | null) => Exchange;

/** Exchange types by name; a new type is one line here and one file beside this one. */
export const EXCHANGE_TYPES: ReadonlyMap<string, ExchangeConstructor> = new Map<string, ExchangeConstructor>([
  ['direct', DirectExchange],
  ['fanout', FanoutExchange],
  ['topic', TopicExchange],
  ['headers', HeadersExchange],
  [DELAYED_TYPE, DelayedExchange],
]);
