import type { FastifyInstance } from 'fastify';
import { ProtocolError } from '../../../../protocol/index.js';
import type { PolicyKind } from '../../../broker/policy.js';
import { vhostBroker, type ApiContext } from '../api-context.js';
import { badRequest, notFound } from '../errors.js';

/** RabbitMQ gates policies on the `policymaker` tag (administrators have it implied). */
const policymaker = { config: { access: 'policymaker' as const } };

interface Params {
  vhost: string;
  name: string;
}

/**
 * `/api/policies` and `/api/operator-policies`: list, show, set (`PUT` with RabbitMQ's body:
 * `pattern`, `definition`, `priority`, `apply-to`) and clear, per vhost. A bad policy is
 * 400 with the field or definition key named.
 */
export function policyRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const policies = ctx.host.policies;
  for (const [path, kind] of [
    ['policies', 'policy'],
    ['operator-policies', 'operator-policy'],
  ] as [string, PolicyKind][]) {
    const word = kind === 'policy' ? 'policy' : 'operator policy';
    app.get(`/api/${path}`, policymaker, () => policies.list(kind));
    app.get<{ Params: { vhost: string } }>(`/api/${path}/:vhost`, policymaker, (req) => {
      vhostBroker(ctx, req.params.vhost);
      return policies.list(kind, req.params.vhost);
    });
    app.get<{ Params: Params }>(`/api/${path}/:vhost/:name`, policymaker, (req) => {
      vhostBroker(ctx, req.params.vhost);
      const p = policies.get(kind, req.params.name, req.params.vhost);
      if (p === undefined) throw notFound(`no ${word} '${req.params.name}' in vhost '${req.params.vhost}'`);
      return p;
    });
    app.put<{ Params: Params }>(`/api/${path}/:vhost/:name`, policymaker, async (req, reply) => {
      vhostBroker(ctx, req.params.vhost);
      const b = req.body;
      if (typeof b !== 'object' || b === null || Array.isArray(b)) throw badRequest('body: must be a JSON object');
      const body = b as Record<string, unknown>;
      const extra = Object.keys(body).find((k) => !['pattern', 'definition', 'priority', 'apply-to', 'vhost', 'name'].includes(k));
      if (extra !== undefined) throw badRequest(`body.${extra}: unknown key (expected pattern, definition, priority, apply-to)`);
      if (body['pattern'] === undefined) throw badRequest('body.pattern: is required');
      if (body['definition'] === undefined) throw badRequest('body.definition: is required');
      try {
        const r = await policies.set(
          kind,
          req.params.name,
          { pattern: body['pattern'], applyTo: body['apply-to'], priority: body['priority'], definition: body['definition'] },
          req.params.vhost,
        );
        return reply.code(r === 'created' ? 201 : 204).send();
      } catch (e) {
        if (e instanceof ProtocolError) throw badRequest(e.message);
        throw e;
      }
    });
    app.delete<{ Params: Params }>(`/api/${path}/:vhost/:name`, policymaker, async (req, reply) => {
      vhostBroker(ctx, req.params.vhost);
      if (!(await policies.clear(kind, req.params.name, req.params.vhost))) throw notFound(`no ${word} '${req.params.name}' in vhost '${req.params.vhost}'`);
      return reply.code(204).send();
    });
  }
}
