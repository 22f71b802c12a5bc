import type { FastifyInstance, FastifyReply } from 'fastify';
import { vhostBroker, withChannel, type ApiContext } from '../api-context.js';
import { badRequest } from '../errors.js';
import { makeContent } from '../../../broker/message.js';

const ALIVENESS_QUEUE = 'aliveness-test';

/** A failed check is 503 with a body saying why, so probes and people both get an answer. */
function failed(reply: FastifyReply, body: Record<string, unknown>): FastifyReply {
  return reply.code(503).send({ status: 'failed', ...body });
}

/**
 * Health checks: RabbitMQ's `/api/health/checks/*` (for Kubernetes probes and monitoring),
 * the aliveness test, and `/health`, which needs no credentials and says only whether the
 * daemon is serving.
 */
export function healthRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const host = ctx.host;
  const user = { config: { access: 'user' as const } };

  app.get('/health', { config: { access: 'none' } }, (_req, reply) =>
    host.stopping ? failed(reply, { reason: 'the daemon is stopping' }) : reply.send({ status: 'ok' }),
  );

  const alarms = (_req: unknown, reply: FastifyReply): FastifyReply => {
    const a = host.alarms();
    if (a.length === 0) return reply.send({ status: 'ok' });
    return failed(reply, { reason: 'There are alarms in effect in the cluster', alarms: a.map((resource) => ({ node: host.nodeName, resource })) });
  };
  app.get('/api/health/checks/alarms', user, alarms);
  app.get('/api/health/checks/local-alarms', user, alarms);

  app.get<{ Params: { port: string } }>('/api/health/checks/port-listener/:port', user, (req, reply) => {
    if (!/^\d{1,5}$/.test(req.params.port)) throw badRequest(`port: must be a port number, got '${req.params.port}'`);
    const port = Number(req.params.port);
    const ports = ctx.listeners().map((l) => l.port);
    return ports.includes(port) ? reply.send({ status: 'ok', port }) : failed(reply, { reason: 'No active listener', missing: port, ports });
  });
  app.get<{ Params: { protocol: string } }>('/api/health/checks/protocol-listener/:protocol', user, (req, reply) => {
    const protocols = ctx.listeners().map((l) => l.protocol);
    const p = req.params.protocol;
    return protocols.includes(p) ? reply.send({ status: 'ok', protocol: p }) : failed(reply, { reason: 'No active listener', missing: p, protocols });
  });
  app.get('/api/health/checks/virtual-hosts', user, () => ({ status: 'ok' }));
  // One node: nothing is replicated, so nothing depends on this one staying up.
  app.get('/api/health/checks/node-is-quorum-critical', user, () => ({ status: 'ok' }));
  app.get('/api/health/checks/node-is-mirror-sync-critical', user, () => ({ status: 'ok' }));
  app.get('/api/health/checks/ready-to-serve-clients', user, (_req, reply) =>
    host.stopping ? failed(reply, { reason: 'the node is stopping' }) : reply.send({ status: 'ok' }),
  );
  // RabbitMQ's older check answers 200 either way, with the verdict in the body.
  app.get('/api/healthchecks/node', user, () => {
    const a = host.alarms();
    return a.length === 0 ? { status: 'ok' } : { status: 'failed', reason: `resource alarm(s) in effect: ${a.join(', ')}` };
  });

  /**
   * Declares `aliveness-test` (kept afterwards, as RabbitMQ does, so probes cause no queue
   * churn), publishes a message to it and gets it back.
   */
  app.get<{ Params: { vhost: string } }>('/api/aliveness-test/:vhost', user, (req, reply) => {
    const broker = vhostBroker(ctx, req.params.vhost);
    return withChannel(broker, req.principal?.user ?? '', (session) => {
      broker.declareQueue(ALIVENESS_QUEUE, { durable: false, exclusive: false, autoDelete: false, arguments: {} }, false, session);
      const ch = session.openChannel(1, { writable: true, deliver() {}, returned() {}, confirm() {}, cancelled() {} });
      ch.publish('', ALIVENESS_QUEUE, false, false, 0, 0, makeContent(null, Buffer.from('test_message')));
      const got = ch.get(ALIVENESS_QUEUE, true);
      if (got === null || got.message.body.toString() !== 'test_message') return failed(reply, { reason: 'aliveness test failed: the message did not come back' });
      return reply.send({ status: 'ok' });
    });
  });
}
