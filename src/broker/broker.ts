import { ProtocolError, ReplyCode } from '../../protocol/index.js';
import { systemClock, type Clock } from './clock.js';
import { deadLetter, isCycle, type DeathReason, type DeathRecord } from './dead-letter.js';
import { DelayedSchedule, ScheduledMessage, type DelayStore, type ReturnTarget, type ScheduleHost } from './delayed-schedule.js';
import { DefaultExchange } from './exchange/default.js';
import { DELAYED_TYPE, DelayedExchange, delayOf, routedContent } from './exchange/delayed.js';
import { Exchange, type Binding, type Destination, type ExchangeBinding, type ExchangeOptions } from './exchange/exchange.js';
import { EXCHANGE_TYPES } from './exchange/types.js';
import { MESSAGE_OVERHEAD_BYTES, Message, contentSize, isWastefulView } from './message.js';
import { ChannelTotals } from './channel-totals.js';
import type { Channel } from './channel.js';
import { checkName, generatedQueueName, isReserved } from './names.js';
import type { Pager } from './paging.js';
import { NoPersistence, type Persistence } from './persistence.js';
import { PolicyBook, mergeAlternate, type EffectivePolicy } from './policy.js';
import { checkArgumentsEquivalent, parseExchangeArguments, parseQueueArguments } from './queue-args.js';
import { Queue, type QueueHost, type QueueOptions } from './queue.js';
import { Session, type SessionInfo } from './session.js';
import { SharedBrokerState, type AlarmReason, type PageFailureListener, type StreamFailureListener } from './shared-state.js';
import { Stream, type StreamHost } from './stream.js';
import { isStreamDeclare, parseStreamArguments } from './stream-args.js';
import type { StreamStorage } from './stream-storage.js';

export type { AlarmReason, PageFailureListener, StreamFailureListener } from './shared-state.js';

export interface BrokerOptions {
  persistence?: Persistence;
  /** Queued-message memory above which publishers are blocked (SPEC §3.1.4); 0 = no limit. */
  memoryHighWatermark?: number;
  /** Time for TTLs, queue expiry and consumer timeouts; tests pass a ManualClock. */
  clock?: Clock;
  /** Pages durable queues' backlogs to the store past their memory budget (the store); absent = all in memory. */
  pager?: Pager;
  /** Keeps streams' segments (the store); absent = in memory. */
  streams?: StreamStorage;
  /** Keeps delayed exchanges' persistent messages (the store); absent = all in memory. */
  delayStore?: DelayStore;
  /** The virtual host this broker serves; default `/`. */
  vhost?: string;
  /**
   * What it shares with the daemon's other vhosts (store, clock, memory and alarms); when given,
   * the options above come from it. Default: a state of its own.
   */
  shared?: SharedBrokerState;
}

export interface PublishResult {
  /** Number of queues the message was enqueued in. */
  routed: number;
  /** True when a durable queue took it as persistent: its confirm waits for a checkpoint. */
  needsCommit: boolean;
  /** True when a full queue refused it (`x-overflow: reject-publish*`): its confirm is a nack. */
  rejected: boolean;
  /** True when a delayed exchange holds it for later (not unroutable: `mandatory` waits for then). */
  scheduled: boolean;
}

export interface BrokerStats {
  exchanges: number;
  queues: number;
  connections: number;
  channels: number;
  consumers: number;
  messagesReady: number;
  messagesUnacked: number;
  queuedBytes: number;
  published: number;
  delivered: number;
  unroutable: number;
  blocked: boolean;
}

const DEFAULT_EXCHANGE_OPTIONS: ExchangeOptions = { durable: true, autoDelete: false, internal: false, arguments: {} };

/**
 * The in-memory model of one virtual host: exchanges, queues, bindings, policies, sessions.
 * Pure logic with no sockets: the server drives it through {@link Session} and {@link Channel},
 * the store through the {@link Persistence} it is given and the `restore*` methods. Each vhost
 * is a broker of its own (see {@link VirtualHosts}), so names never meet across vhosts; what
 * the vhosts of a daemon share is in {@link SharedBrokerState}.
 */
export class Broker implements QueueHost, StreamHost, ScheduleHost {
  /** The virtual host's name (`/` by default). */
  readonly vhost: string;
  readonly shared: SharedBrokerState;
  readonly exchanges = new Map<string, Exchange>();
  readonly queues = new Map<string, Queue>();
  /** Policies and operator policies; after changing them call {@link applyPolicies}. */
  readonly policies = new PolicyBook();
  readonly sessions = new Map<string, Session>();
  readonly persistence: Persistence;
  readonly clock: Clock;
  readonly pager: Pager | null;
  readonly streamStorage: StreamStorage;
  readonly delayStore: DelayStore | null;
  private readonly defaultExchange: DefaultExchange;
  private consumers = 0;
  publishedTotal = 0;
  deliveredTotal = 0;
  unroutableTotal = 0;
  /** Churn counters; what was opened or created is these plus what exists now. */
  sessionsClosedTotal = 0;
  channelsClosedTotal = 0;
  queuesDeclaredTotal = 0;
  queuesDeletedTotal = 0;
  /** Message counters of closed channels, so totals survive channel churn. */
  readonly closedChannels = new ChannelTotals();

  constructor(options: BrokerOptions = {}) {
    this.vhost = options.vhost ?? '/';
    this.shared =
      options.shared ??
      new SharedBrokerState(
        options.persistence ?? new NoPersistence(),
        options.clock ?? systemClock,
        options.pager ?? null,
        options.memoryHighWatermark ?? 0,
        options.delayStore ?? null,
        options.streams,
      );
    this.persistence = this.shared.persistence;
    this.clock = this.shared.clock;
    this.pager = this.shared.pager;
    this.delayStore = this.shared.delayStore;
    this.streamStorage = this.shared.streams;
    this.defaultExchange = new DefaultExchange(this.queues);
    this.exchanges.set('', this.defaultExchange);
    for (const type of ['direct', 'fanout', 'topic', 'headers']) this.addExchange(`amq.${type}`, type, DEFAULT_EXCHANGE_OPTIONS);
  }

  // ---- sessions ----

  openSession(info: SessionInfo): Session {
    const s = new Session(this, info);
    this.sessions.set(info.id, s);
    return s;
  }

  /** @internal Called by {@link Session.close}. */
  sessionClosed(session: Session): void {
    this.sessionsClosedTotal++;
    this.sessions.delete(session.id);
    for (const q of [...this.queues.values()]) {
      if (q.owner === session.id) this.removeQueue(q);
    }
  }

  // ---- exchanges ----

  declareExchange(name: string, type: string, options: ExchangeOptions, passive: boolean): Exchange {
    if (name === '') throw accessRefusedDefault();
    const existing = this.exchanges.get(name);
    if (passive) {
      if (existing === undefined) throw notFound('exchange', name, this.vhost);
      return existing;
    }
    checkName('exchange', name);
    const ctor = EXCHANGE_TYPES.get(type);
    if (ctor === undefined) throw new ProtocolError(ReplyCode.COMMAND_INVALID, `unknown exchange type '${type}'`);
    parseExchangeArguments(name, options.arguments, type, this.vhost);
    if (existing !== undefined) {
      inequivalent(this.vhost, 'exchange', name, 'type', type, existing.type);
      inequivalent(this.vhost, 'exchange', name, 'durable', options.durable, existing.durable);
      inequivalent(this.vhost, 'exchange', name, 'auto_delete', options.autoDelete, existing.autoDelete);
      inequivalent(this.vhost, 'exchange', name, 'internal', options.internal, existing.internal);
      checkArgumentsEquivalent('exchange', name, options.arguments, existing.arguments, this.vhost);
      return existing;
    }
    if (isReserved(name)) {
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `exchange name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (type === DELAYED_TYPE && options.durable && this.shared.replicated) {
      throw new ProtocolError(
        ReplyCode.PRECONDITION_FAILED,
        `exchange '${name}' in vhost '${this.vhost}': durable delayed exchanges are not replicated to cluster followers yet; declare it non-durable or on a node without --cluster`,
      );
    }
    const x = this.addExchange(name, type, options);
    if (x.durable) this.persistence.exchangeDeclared(x);
    return x;
  }

  private addExchange(name: string, type: string, options: ExchangeOptions): Exchange {
    const ctor = EXCHANGE_TYPES.get(type);
    if (ctor === undefined) throw new Error(`unknown exchange type ${type}`);
    const x = new ctor(name, options, parseExchangeArguments(name, options.arguments, type, this.vhost));
    x.vhost = this.vhost;
    if (x instanceof DelayedExchange) x.schedule = new DelayedSchedule(x, this, x.durable ? this.delayStore : null);
    if (!this.policies.empty) this.applyExchangePolicy(x);
    this.exchanges.set(name, x);
    return x;
  }

  deleteExchange(name: string, ifUnused: boolean): void {
    if (name === '') throw accessRefusedDefault();
    const x = this.exchanges.get(name);
    if (x === undefined) return; // idempotent, as RabbitMQ
    if (isReserved(name)) throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `exchange '${name}' is built in and cannot be deleted`);
    if (ifUnused && x.bindingCount !== 0) {
      throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `exchange '${name}' in use`);
    }
    this.removeExchange(x);
  }

  /** Deletes an exchange with every binding from it and to it (the store hears only `exchangeDeleted`). */
  private removeExchange(x: Exchange): void {
    for (const q of x.boundQueues()) {
      x.unbindQueue(q);
      q.boundTo.delete(x);
    }
    for (const d of x.boundExchanges()) {
      x.unbindDestination(d);
      d.boundTo.delete(x);
    }
    this.exchanges.delete(x.name);
    if (x instanceof DelayedExchange) x.schedule.clear();
    if (x.durable) this.persistence.exchangeDeleted(x);
    for (const source of [...x.boundTo]) {
      source.unbindDestination(x);
      this.maybeAutoDeleteExchange(source);
    }
    x.boundTo.clear();
  }

  // ---- queues ----

  declareQueue(name: string, options: QueueOptions, passive: boolean, session: Session | null): Queue {
    this.queuesDeclaredTotal++;
    if (passive) {
      const q = this.queues.get(name);
      if (q === undefined) throw notFound('queue', name, this.vhost);
      checkOwner(q, session, this.vhost);
      return q;
    }
    if (name === '') name = generatedQueueName();
    checkName('queue', name);
    const stream = isStreamDeclare(options.arguments) ? parseStreamArguments(name, options.arguments, options, this.vhost) : null;
    const policy = stream === null ? parseQueueArguments(name, options.arguments, this.vhost) : null;
    const existing = this.queues.get(name);
    if (existing !== undefined) {
      checkOwner(existing, session, this.vhost);
      inequivalent(this.vhost, 'queue', name, 'durable', options.durable, existing.durable);
      inequivalent(this.vhost, 'queue', name, 'exclusive', options.exclusive, existing.exclusive);
      inequivalent(this.vhost, 'queue', name, 'auto_delete', options.autoDelete, existing.autoDelete);
      checkArgumentsEquivalent('queue', name, options.arguments, existing.arguments, this.vhost);
      existing.touch();
      return existing;
    }
    if (isReserved(name)) {
      throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (options.exclusive && session === null) {
      throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `exclusive queue '${name}' needs a connection to own it`);
    }
    if (stream !== null && this.shared.replicated) {
      throw new ProtocolError(
        ReplyCode.PRECONDITION_FAILED,
        `stream '${name}' in vhost '${this.vhost}': streams are not replicated to cluster followers yet; declare streams on a node without --cluster`,
      );
    }
    const q = stream !== null ? new Stream(name, options, this, stream) : new Queue(name, options, options.exclusive ? (session as Session).id : null, this, policy);
    if (!this.policies.empty) q.applyPolicy(this.policies.effective('queues', name));
    this.queues.set(name, q);
    if (this.isPersisted(q)) this.persistence.queueDeclared(q);
    return q;
  }

  /**
   * Applies the policies as they now are to every queue and exchange (after a policy is set or
   * cleared, or restored): each gets its highest-priority match, capped by operator policies.
   */
  applyPolicies(): void {
    for (const q of this.queues.values()) {
      const next = this.policies.effective('queues', q.name);
      if (!samePolicy(next, q.appliedPolicy)) q.applyPolicy(next);
    }
    for (const x of this.exchanges.values()) if (x.name !== '') this.applyExchangePolicy(x);
  }

  private applyExchangePolicy(x: Exchange): void {
    const e = this.policies.effective('exchanges', x.name);
    x.appliedPolicy = e;
    x.alternate = mergeAlternate(x.argumentAlternate, e);
  }

  /** Looks a queue up for consume/get/purge/bind: it must exist and not be another's exclusive. */
  queueForUse(name: string, session: Session | null): Queue {
    const q = this.queues.get(name);
    if (q === undefined) throw notFound('queue', name, this.vhost);
    checkOwner(q, session, this.vhost);
    return q;
  }

  /** A stream, for storing and querying consumer offsets (SPEC §3.4.5). */
  streamForUse(name: string, session: Session | null): Stream {
    const q = this.queueForUse(name, session);
    if (!q.isStream) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `queue '${name}' in vhost '${this.vhost}' is not a stream`);
    return q as Stream;
  }

  /** Deletes a queue; returns the number of ready messages it held. Missing: 0 (as RabbitMQ). */
  deleteQueue(name: string, ifUnused: boolean, ifEmpty: boolean, session: Session | null): number {
    const q = this.queues.get(name);
    if (q === undefined) return 0;
    checkOwner(q, session, this.vhost);
    if (ifUnused && q.consumers.length !== 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `queue '${name}' in use`);
    if (ifEmpty && q.messageCount !== 0) throw new ProtocolError(ReplyCode.PRECONDITION_FAILED, `queue '${name}' is not empty`);
    return this.removeQueue(q);
  }

  private removeQueue(q: Queue): number {
    this.queuesDeletedTotal++;
    q.markDeleted();
    this.queues.delete(q.name);
    for (const c of [...q.consumers]) c.channel.consumerQueueDeleted(c);
    q.consumers.length = 0;
    const n = q.purge();
    for (const x of q.boundTo) {
      x.unbindQueue(q);
      this.maybeAutoDeleteExchange(x);
    }
    q.boundTo.clear();
    if (this.isPersisted(q)) this.persistence.queueDeleted(q);
    return n;
  }

  purgeQueue(name: string, session: Session | null): number {
    const q = this.queueForUse(name, session);
    if (q.isStream) throw new ProtocolError(ReplyCode.NOT_IMPLEMENTED, `queue.purge not supported by stream queues queue '${name}' in vhost '${this.vhost}'`);
    return q.purge();
  }

  private isPersisted(q: Queue): boolean {
    return q.durable && !q.exclusive;
  }

  // ---- bindings ----

  bind(queueName: string, exchangeName: string, routingKey: string, args: Record<string, unknown>, session: Session | null): void {
    const { q, x } = this.bindingEnds(queueName, exchangeName, session);
    x.checkBindingArguments(args);
    if (x.bind(q, routingKey, args)) {
      q.boundTo.add(x);
      if (x.durable && this.isPersisted(q)) this.persistence.bindingAdded(x, q, routingKey, args);
    }
  }

  /** `args` matter for headers exchanges, where they are part of what identifies a binding. */
  unbind(queueName: string, exchangeName: string, routingKey: string, session: Session | null, args: Record<string, unknown> = {}): void {
    const { q, x } = this.bindingEnds(queueName, exchangeName, session);
    if (!x.unbind(q, routingKey, args)) return;
    if (!x.hasQueue(q)) q.boundTo.delete(x);
    if (x.durable && this.isPersisted(q)) this.persistence.bindingRemoved(x, q, routingKey, args);
    this.maybeAutoDeleteExchange(x);
  }

  /**
   * Binds exchange `destination` to exchange `source` (SPEC §3.3.3): messages `source` routes
   * with this key go on through `destination`. Durable when both ends are.
   */
  bindExchange(destinationName: string, sourceName: string, routingKey: string, args: Record<string, unknown>): void {
    const { source, destination } = this.exchangeBindingEnds(destinationName, sourceName);
    source.checkBindingArguments(args);
    if (!source.bind(destination, routingKey, args)) return;
    destination.boundTo.add(source);
    if (source.durable && destination.durable) this.persistence.exchangeBindingAdded?.(source, destination, routingKey, args);
  }

  unbindExchange(destinationName: string, sourceName: string, routingKey: string, args: Record<string, unknown> = {}): void {
    const { source, destination } = this.exchangeBindingEnds(destinationName, sourceName);
    if (!source.unbind(destination, routingKey, args)) return;
    if (!source.hasDestination(destination)) destination.boundTo.delete(source);
    if (source.durable && destination.durable) this.persistence.exchangeBindingRemoved?.(source, destination, routingKey, args);
    this.maybeAutoDeleteExchange(source);
  }

  private exchangeBindingEnds(destinationName: string, sourceName: string): { source: Exchange; destination: Exchange } {
    if (destinationName === '' || sourceName === '') throw accessRefusedDefault();
    const destination = this.exchanges.get(destinationName);
    if (destination === undefined) throw notFound('exchange', destinationName, this.vhost);
    const source = this.exchanges.get(sourceName);
    if (source === undefined) throw notFound('exchange', sourceName, this.vhost);
    return { source, destination };
  }

  private bindingEnds(queueName: string, exchangeName: string, session: Session | null): { q: Queue; x: Exchange } {
    if (exchangeName === '') throw accessRefusedDefault();
    const q = this.queueForUse(queueName, session);
    const x = this.exchanges.get(exchangeName);
    if (x === undefined) throw notFound('exchange', exchangeName, this.vhost);
    return { q, x };
  }

  private maybeAutoDeleteExchange(x: Exchange): void {
    if (x.autoDelete && x.bindingCount === 0 && this.exchanges.get(x.name) === x) this.removeExchange(x);
  }

  bindings(): Binding[] {
    const out: Binding[] = [];
    for (const x of this.exchanges.values()) for (const b of x.bindings()) out.push(b);
    return out;
  }

  /** Exchange → exchange bindings (SPEC §3.3.3). */
  exchangeBindings(): ExchangeBinding[] {
    const out: ExchangeBinding[] = [];
    for (const x of this.exchanges.values()) for (const b of x.exchangeBindings()) out.push(b);
    return out;
  }

  // ---- messages ----

  /**
   * Routes a message and enqueues it in every target queue. Throws NOT_FOUND for a missing
   * exchange and ACCESS_REFUSED for an internal one.
   */
  publish(
    exchangeName: string,
    routingKey: string,
    content: Buffer,
    persistent: boolean,
    priority: number,
    expiration: number,
    returnTo: ReturnTarget | null = null,
  ): PublishResult {
    const x = this.exchanges.get(exchangeName);
    if (x === undefined) throw notFound('exchange', exchangeName, this.vhost);
    if (x.internal) throw new ProtocolError(ReplyCode.ACCESS_REFUSED, `cannot publish to internal exchange '${exchangeName}'`);
    this.publishedTotal++;
    x.publishInTotal++;
    if (x instanceof DelayedExchange) {
      const delay = delayOf(content);
      if (delay > 0) return this.schedule(x, delay, routingKey, content, persistent, priority, expiration, returnTo);
    }
    const result = this.enqueueRouted(x, routingKey, content, persistent, priority, expiration, null);
    x.publishOutTotal += result.routed;
    if (result.routed === 0) this.unroutableTotal++;
    return result;
  }

  /**
   * Enqueues a message in every queue `x` routes it to. `skip` leaves out queues (dead-letter
   * cycles). A full `reject-publish` queue refuses its copy; `reject-publish-dlx` dead-letters it.
   */
  private enqueueRouted(
    x: Exchange,
    routingKey: string,
    content: Buffer,
    persistent: boolean,
    priority: number,
    expiration: number,
    skip: ((q: Queue) => boolean) | null,
  ): PublishResult {
    let routed = 0;
    let needsCommit = false;
    let rejected = false;
    let message: Message | null = null;
    const targets = x.exchangeBindingCount === 0 && x.alternate === null ? (x.route(routingKey, content) as Iterable<Queue>) : this.routeThrough(x, routingKey, content);
    let compact = false;
    for (const q of targets) {
      if (skip !== null && skip(q)) continue;
      if (q.isStream) {
        // Streams keep every message, persistent or not (RabbitMQ); the bytes go to a segment.
        routed++;
        (q as Stream).append(x.name, routingKey, content, persistent, priority);
        if (this.streamStorage.durable) needsCommit = true;
        continue;
      }
      if (!compact && q.consumers.length === 0 && isWastefulView(content)) {
        content = this.shared.parked.copy(content);
        compact = true;
      }
      const m: Message =
        message === null
          ? (message = new Message(this.shared.nextMessageId++, x.name, routingKey, content, persistent, priority, expiration))
          : message.copy(content);
      routed++;
      if (q.policy !== null && q.refuses(contentSize(content))) {
        rejected = true;
        if (q.policy.overflow === 'reject-publish-dlx' && q.policy.deadLetterExchange !== null) this.deadLetter(q, m, 'maxlen');
        continue;
      }
      if (persistent && this.isPersisted(q)) {
        this.persistence.messageEnqueued(q, m);
        needsCommit = true;
      }
      this.account(content.length + MESSAGE_OVERHEAD_BYTES);
      q.enqueue(m);
    }
    return { routed, needsCommit, rejected, scheduled: false };
  }

  /**
   * Holds a message in a delayed exchange until it is due. Its bytes are copied when they are a
   * view into a larger buffer (a socket read), so a long wait pins nothing else.
   */
  private schedule(
    x: DelayedExchange,
    delay: number,
    routingKey: string,
    content: Buffer,
    persistent: boolean,
    priority: number,
    expiration: number,
    returnTo: ReturnTarget | null,
  ): PublishResult {
    if (content.byteLength !== content.buffer.byteLength) {
      const own = Buffer.allocUnsafeSlow(content.length);
      content.copy(own);
      content = own;
    }
    const stored = persistent && x.durable && this.delayStore !== null;
    const m = new ScheduledMessage(this.shared.nextMessageId++, this.clock.now() + delay, routingKey, content, persistent, priority, expiration, stored, returnTo);
    if (stored) (this.delayStore as DelayStore).scheduled(x, m);
    x.schedule.add(m);
    return { routed: 0, needsCommit: stored, rejected: false, scheduled: true };
  }

  /**
   * @internal {@link ScheduleHost}: a delayed message is due. With its `x-delay` negated (the
   * plugin's mark), it is routed as a message published now would be through the underlying type (alternate exchange and exchange bindings
   * included); if nothing takes it, its publisher gets it back when it asked for `mandatory` and
   * its channel is still open, else it is dropped and counted as unroutable.
   */
  fireScheduled(x: DelayedExchange, m: ScheduledMessage): void {
    const content = routedContent(m.content);
    const result = this.enqueueRouted(x, m.routingKey, content, m.persistent, m.priority, m.expiration, null);
    x.publishOutTotal += result.routed;
    if (result.routed !== 0) return;
    this.unroutableTotal++;
    x.unroutedTotal++;
    m.returnTo?.returnScheduled(x.name, m.routingKey, content);
  }

  /** @internal {@link ScheduleHost} */
  scheduledMemoryChanged(bytes: number): void {
    this.account(bytes);
  }

  /**
   * The queues a message reaches through exchange → exchange bindings and alternate exchanges
   * (SPEC §3.3.2–3.3.3). Each exchange is visited once, so binding loops end; an exchange that
   * routes the message nowhere hands it to its alternate exchange, as RabbitMQ does.
   */
  private routeThrough(x: Exchange, routingKey: string, content: Buffer): Set<Queue> {
    const queues = new Set<Queue>();
    const seen = new Set<Exchange>([x]);
    const work: Exchange[] = [x];
    for (let e = work.pop(); e !== undefined; e = work.pop()) {
      let any = false;
      for (const d of e.route(routingKey, content) as Iterable<Destination>) {
        any = true;
        if (!(d instanceof Exchange)) queues.add(d);
        else if (!seen.has(d)) {
          seen.add(d);
          work.push(d);
        }
      }
      if (any || e.alternate === null) continue;
      const ae = this.exchanges.get(e.alternate);
      if (ae !== undefined && !seen.has(ae)) {
        seen.add(ae);
        work.push(ae);
      }
    }
    return queues;
  }

  /**
   * @internal {@link QueueHost}: publishes a copy of a message that leaves `queue` for `reason`
   * to the queue's dead-letter exchange (SPEC §3.4.3), with its death recorded in `x-death` and
   * its per-message TTL removed. A missing exchange drops it (RabbitMQ); a queue it already
   * died in without a rejection since is skipped (a loop no client takes part in).
   */
  deadLetter(queue: Queue, message: Message, reason: DeathReason): void {
    const p = queue.policy;
    if (p === null || p.deadLetterExchange === null) return;
    const x = this.exchanges.get(p.deadLetterExchange);
    if (x === undefined) return;
    const dl = deadLetter(message, queue.name, reason, this.clock.now());
    const deaths: DeathRecord[] = dl.deaths;
    const key = p.deadLetterRoutingKey ?? message.routingKey;
    if (x instanceof DelayedExchange) {
      // As the plugin: a delayed exchange holds what is dead-lettered to it with an `x-delay`
      // (once: a message it already delayed carries the delay negated).
      const delay = delayOf(dl.content);
      if (delay > 0) {
        this.schedule(x, delay, key, dl.content, message.persistent, message.priority, 0, null);
        return;
      }
    }
    this.enqueueRouted(x, key, dl.content, message.persistent, message.priority, 0, (q) => isCycle(reason, deaths, q.name));
  }

  /** @internal {@link QueueHost}: a queue's `x-expires` ran out. */
  queueExpired(queue: Queue): void {
    if (this.queues.get(queue.name) === queue) this.removeQueue(queue);
  }

  /** @internal A delivery or get handed a message out. */
  delivered(queue: Queue, message: Message): void {
    this.deliveredTotal++;
    if (message.persistent && !queue.isStream && this.isPersisted(queue)) this.persistence.messageDelivered(queue, message);
  }

  /** @internal {@link QueueHost}: a message left its queue for good. */
  messageGone(queue: Queue, message: Message): void {
    this.account(-(message.content.length + MESSAGE_OVERHEAD_BYTES));
    if (message.persistent && !queue.deleted && this.isPersisted(queue)) this.persistence.messageRemoved(queue, message);
  }

  /** @internal {@link QueueHost}: a queue's last consumer left. */
  consumersGone(queue: Queue): void {
    if (queue.autoDelete && queue.hadConsumer && !queue.deleted) this.removeQueue(queue);
  }

  /** @internal A channel closed: its message counters join the broker-wide totals. */
  channelClosed(channel: Channel): void {
    this.channelsClosedTotal++;
    this.closedChannels.add(channel);
  }

  consumerAdded(): void {
    this.consumers++;
  }

  consumerRemoved(): void {
    this.consumers--;
  }

  // ---- paging and restore ----

  /** @internal {@link QueueHost}: paged messages left memory or came back. */
  memoryChanged(_queue: Queue, bytes: number): void {
    this.shared.account(bytes);
  }

  /** @internal {@link QueueHost} */
  pageFailed(queue: Queue, err: Error | null, lostMessages: number): void {
    this.shared.pageFailed(queue, err, lostMessages);
  }

  /** @internal {@link StreamHost}: a named stream consumer's offset moved. */
  streamOffsetStored(stream: Stream, name: string, offset: number): void {
    this.persistence.streamOffsetStored?.(stream, name, offset);
  }

  /** @internal {@link StreamHost} */
  streamFailed(stream: Stream, err: Error): void {
    this.shared.streamFailed(stream, err);
  }

  /** Told of stream failures in every vhost of this daemon. */
  watchStreamFailures(listener: StreamFailureListener): () => void {
    return this.shared.watchStreamFailures(listener);
  }

  /** Told of page failures in every vhost of this daemon. */
  watchPageFailures(listener: PageFailureListener): () => void {
    return this.shared.watchPageFailures(listener);
  }

  /** Message ids continue after the highest one the store has seen. */
  advanceMessageId(atLeast: number): void {
    this.shared.advanceMessageId(atLeast);
  }

  // ---- memory and flow control (SPEC §3.1.4), shared by every vhost ----

  private account(delta: number): void {
    this.shared.account(delta);
  }

  /**
   * Raises or clears one reason to block publishers: `memory` (queued bytes over the high
   * watermark) or `store` (the store's unwritten deltas over their bound). Publishers stay
   * blocked while any reason is raised.
   */
  setAlarm(reason: AlarmReason, raised: boolean): void {
    this.shared.setAlarm(reason, raised);
  }

  /** The reasons publishers are blocked right now (empty when they are not). */
  get alarmReasons(): AlarmReason[] {
    return this.shared.alarmReasons;
  }

  get blocked(): boolean {
    return this.shared.blocked;
  }

  onBlockedChange(listener: (blocked: boolean) => void): () => void {
    return this.shared.onBlockedChange(listener);
  }

  /** Queued bytes of every vhost: the figure the memory watermark applies to. */
  get queuedBytes(): number {
    return this.shared.queuedBytes;
  }

  /**
   * Deletes everything in this vhost (its vhost is being deleted): every queue (its durable
   * messages with it) and exchange, durably. Its sessions are closed by the front ends first.
   */
  deleteEverything(): void {
    for (const s of [...this.sessions.values()]) s.close();
    for (const q of [...this.queues.values()]) this.removeQueue(q);
    for (const x of [...this.exchanges.values()]) {
      if (x.name === '' || this.exchanges.get(x.name) !== x) continue;
      if (isReserved(x.name)) this.exchanges.delete(x.name);
      else this.removeExchange(x);
    }
  }

  stats(): BrokerStats {
    let ready = 0;
    let unacked = 0;
    for (const q of this.queues.values()) {
      ready += q.messageCount;
      unacked += q.unackedCount;
    }
    let channels = 0;
    for (const s of this.sessions.values()) channels += s.channels.size;
    return {
      exchanges: this.exchanges.size,
      queues: this.queues.size,
      connections: this.sessions.size,
      channels,
      consumers: this.consumers,
      messagesReady: ready,
      messagesUnacked: unacked,
      queuedBytes: this.shared.queuedBytes,
      published: this.publishedTotal,
      delivered: this.deliveredTotal,
      unroutable: this.unroutableTotal,
      blocked: this.shared.blocked,
    };
  }
}

function notFound(kind: 'exchange' | 'queue', name: string, vhost: string): ProtocolError {
  return new ProtocolError(ReplyCode.NOT_FOUND, `no ${kind} '${name}' in vhost '${vhost}'`);
}

function accessRefusedDefault(): ProtocolError {
  return new ProtocolError(ReplyCode.ACCESS_REFUSED, 'operation not permitted on the default exchange');
}

function checkOwner(q: Queue, session: Session | null, vhost: string): void {
  if (q.owner !== null && (session === null || q.owner !== session.id)) {
    throw new ProtocolError(
      ReplyCode.RESOURCE_LOCKED,
      `cannot obtain exclusive access to locked queue '${q.name}' in vhost '${vhost}'`,
    );
  }
}

function inequivalent(vhost: string, kind: string, name: string, arg: string, received: unknown, current: unknown): void {
  if (received !== current) {
    throw new ProtocolError(
      ReplyCode.PRECONDITION_FAILED,
      `inequivalent arg '${arg}' for ${kind} '${name}' in vhost '${vhost}': received '${String(received)}' but current is '${String(current)}'`,
    );
  }
}

function samePolicy(a: EffectivePolicy | null, b: EffectivePolicy | null): boolean {
  if (a === null || b === null) return a === b;
  return a.policy === b.policy && a.operatorPolicy === b.operatorPolicy && JSON.stringify(a.definition) === JSON.stringify(b.definition);
}
