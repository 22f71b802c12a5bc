import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { Broker, type BrokerStats } from './broker.js';

/** The default virtual host: every daemon has it, and stores from before vhosts migrate into it. */
export const DEFAULT_VHOST = '/';

/**
 * The virtual hosts of one daemon, each a {@link Broker} of its own, so the same names in two
 * vhosts are different objects and routing, dead-lettering and policies never cross from one to
 * another. They share the store, the clock, memory and its alarms ({@link Broker.shared}).
 * Front ends look a vhost up once, when a connection opens, and then talk to its broker only.
 */
export class VirtualHosts {
  private readonly brokers = new Map<string, Broker>();

  constructor(readonly defaultVhost: Broker) {
    this.brokers.set(defaultVhost.vhost, defaultVhost);
  }

  get(name: string): Broker | undefined {
    return this.brokers.get(name);
  }

  has(name: string): boolean {
    return this.brokers.has(name);
  }

  /** The vhost's broker, made (with its built-in exchanges) if it does not exist yet. */
  add(name: string): Broker {
    const existing = this.brokers.get(name);
    if (existing !== undefined) return existing;
    const problem = vhostNameProblem(name);
    if (problem !== null) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, problem);
    const b = new Broker({ vhost: name, shared: this.defaultVhost.shared });
    this.brokers.set(name, b);
    return b;
  }

  /**
   * Deletes a vhost and everything in it (sessions closed, queues with their messages and
   * exchanges deleted, durably through the store). False when there is no such vhost.
   */
  delete(name: string): boolean {
    const b = this.brokers.get(name);
    if (b === undefined) return false;
    if (b === this.defaultVhost) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `the default vhost '${name}' cannot be deleted`);
    b.deleteEverything();
    this.brokers.delete(name);
    return true;
  }

  /** Names, `/` first, then in the order they were made. */
  names(): string[] {
    return [...this.brokers.keys()];
  }

  all(): IterableIterator<Broker> {
    return this.brokers.values();
  }

  get size(): number {
    return this.brokers.size;
  }

  /** The daemon-wide figures: every vhost's summed (memory and alarms are shared already). */
  stats(): BrokerStats {
    const total = this.defaultVhost.stats();
    for (const b of this.brokers.values()) {
      if (b === this.defaultVhost) continue;
      const s = b.stats();
      total.exchanges += s.exchanges;
      total.queues += s.queues;
      total.connections += s.connections;
      total.channels += s.channels;
      total.consumers += s.consumers;
      total.messagesReady += s.messagesReady;
      total.messagesUnacked += s.messagesUnacked;
      total.published += s.published;
      total.delivered += s.delivered;
      total.unroutable += s.unroutable;
    }
    return total;
  }
}

/** RabbitMQ takes any name; we refuse only what cannot be told apart or stored: empty, too long, control characters. */
export function vhostNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || name === '') return 'a vhost name must be a non-empty string';
  if (Buffer.byteLength(name) > 255) return `vhost name '${name.slice(0, 40)}…' is longer than 255 bytes`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/u.test(name)) return `vhost name ${JSON.stringify(name)} contains a control character`;
  return null;
}
