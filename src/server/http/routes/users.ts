import type { FastifyInstance } from 'fastify';
import { Limits } from '../../limits.js';
import { putUser } from '../../user-change.js';
import type { ApiContext } from '../api-context.js';
import { badRequest, notFound } from '../errors.js';
import type { UserView } from '../host.js';
import { parseListParams, sendListing } from '../listing.js';
import type { Json } from '../shapes.js';

const admin = { config: { access: 'admin' as const } };

/** A user as RabbitMQ's API shows one; config and built-in users have no hash to show. */
function userJson(u: UserView): Json {
  return { name: u.name, tags: [...u.tags], limits: {}, password_hash: u.passwordHash, hashing_algorithm: u.hashingAlgorithm, source: u.source };
}

/**
 * `/api/users`: list, show, create or change (`PUT` with RabbitMQ's body: `password` or
 * `password_hash` + `hashing_algorithm`, `tags`), delete, bulk-delete. Administrators only,
 * reads included: the rows carry password hashes.
 */
export function userRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const dir = ctx.host.userDirectory;
  app.get('/api/users', admin, (req, reply) =>
    sendListing(reply, { items: ctx.host.users(), name: (u) => u.name, vhost: () => '', row: userJson }, parseListParams(req.query as Record<string, unknown>)),
  );
  app.get<{ Params: { name: string } }>('/api/users/:name', admin, (req) => {
    const u = ctx.host.users().find((x) => x.name === req.params.name);
    if (u === undefined) throw notFound(`no user '${req.params.name}'`);
    return userJson(u);
  });
  app.put<{ Params: { name: string } }>('/api/users/:name', admin, async (req, reply) => {
    const body = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw badRequest('body: must be a JSON object');
    const r = await putUser(dir, req.params.name, body as Record<string, unknown>, 'body');
    return reply.code(r === 'created' ? 201 : 204).send();
  });
  app.delete<{ Params: { name: string } }>('/api/users/:name', admin, async (req, reply) => {
    await dir.delete(req.params.name);
    return reply.code(204).send();
  });
  const perms = ctx.host.permissions;
  const permJson = (p: { user: string; vhost: string; configure: string; write: string; read: string }): Json => ({ ...p });
  app.get('/api/permissions', admin, () => perms.list().map(permJson));
  app.get<{ Params: { name: string } }>('/api/users/:name/permissions', admin, (req) => perms.list().filter((p) => p.user === req.params.name).map(permJson));
  app.get<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', admin, (req) => {
    const p = perms.list().find((x) => x.user === req.params.user && x.vhost === req.params.vhost);
    if (p === undefined) throw notFound(`no permissions for user '${req.params.user}' in vhost '${req.params.vhost}'`);
    return permJson(p);
  });
  app.put<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', admin, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    for (const k of ['configure', 'write', 'read']) if (typeof b[k] !== 'string') throw badRequest(`body.${k}: is required and must be a string (a regular expression)`);
    const r = await perms.set(req.params.user, req.params.vhost, { configure: b['configure'] as string, write: b['write'] as string, read: b['read'] as string });
    return reply.code(r === 'created' ? 201 : 204).send();
  });
  app.delete<{ Params: { vhost: string; user: string } }>('/api/permissions/:vhost/:user', admin, async (req, reply) => {
    await perms.clear(req.params.user, req.params.vhost);
    return reply.code(204).send();
  });
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/permissions', admin, (req) => {
    if (ctx.host.vhost(req.params.vhost) === undefined) throw notFound(`no vhost '${req.params.vhost}'`);
    return perms.list().filter((p) => p.vhost === req.params.vhost).map(permJson);
  });
  // RabbitMQ's topic permissions: PUT {exchange, write, read}; DELETE clears the user's in the vhost.
  const topicJson = (p: { user: string; vhost: string; exchange: string; write: string; read: string }): Json => ({ ...p });
  app.get('/api/topic-permissions', admin, () => perms.listTopic().map(topicJson));
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/topic-permissions', admin, (req) => {
    if (ctx.host.vhost(req.params.vhost) === undefined) throw notFound(`no vhost '${req.params.vhost}'`);
    return perms.listTopic().filter((p) => p.vhost === req.params.vhost).map(topicJson);
  });
  app.get<{ Params: { name: string } }>('/api/users/:name/topic-permissions', admin, (req) => perms.listTopic().filter((p) => p.user === req.params.name).map(topicJson));
  app.get<{ Params: { vhost: string; user: string } }>('/api/topic-permissions/:vhost/:user', admin, (req) => {
    const rows = perms.listTopic().filter((x) => x.user === req.params.user && x.vhost === req.params.vhost);
    if (rows.length === 0) throw notFound(`no topic permissions for user '${req.params.user}' in vhost '${req.params.vhost}'`);
    return rows.map(topicJson);
  });
  app.put<{ Params: { vhost: string; user: string } }>('/api/topic-permissions/:vhost/:user', admin, async (req, reply) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    for (const k of ['exchange', 'write', 'read']) if (typeof b[k] !== 'string') throw badRequest(`body.${k}: is required and must be a string`);
    const r = await perms.setTopic(req.params.user, req.params.vhost, { exchange: b['exchange'] as string, write: b['write'] as string, read: b['read'] as string });
    return reply.code(r === 'created' ? 201 : 204).send();
  });
  app.delete<{ Params: { vhost: string; user: string } }>('/api/topic-permissions/:vhost/:user', admin, async (req, reply) => {
    await perms.clearTopic(req.params.user, req.params.vhost);
    return reply.code(204).send();
  });
  // RabbitMQ's /api/user-limits and /api/vhost-limits: PUT {"value": n}, DELETE clears.
  const limits = ctx.host.limits;
  for (const scope of ['user', 'vhost'] as const) {
    const rows = (key?: string): Json[] =>
      limits
        .list(scope)
        .filter((r) => key === undefined || r.key === key)
        .map((r) => ({ [scope]: r.key, value: r.value }));
    app.get(`/api/${scope}-limits`, admin, () => rows());
    app.get<{ Params: { key: string } }>(`/api/${scope}-limits/:key`, admin, (req) => rows(req.params.key));
    app.put<{ Params: { key: string; name: string } }>(`/api/${scope}-limits/:key/:name`, admin, async (req, reply) => {
      if (scope === 'user' && dir.get(req.params.key) === undefined) throw notFound(`no user '${req.params.key}'`);
      if (scope === 'vhost' && !ctx.host.vhostNames().includes(req.params.key)) throw notFound(`no vhost '${req.params.key}'`);
      const value = (req.body as { value?: unknown } | null)?.value;
      const problem = Limits.problem(scope, req.params.name, value);
      if (problem !== null) throw badRequest(`body.value: ${problem}`);
      await limits.set(scope, req.params.key, req.params.name, value as number);
      return reply.code(204).send();
    });
    app.delete<{ Params: { key: string; name: string } }>(`/api/${scope}-limits/:key/:name`, admin, async (req, reply) => {
      await limits.set(scope, req.params.key, req.params.name, null);
      return reply.code(204).send();
    });
  }
  app.post('/api/users/bulk-delete', admin, async (req, reply) => {
    const names = (req.body as { users?: unknown } | null)?.users;
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw badRequest('body.users: must be an array of user names');
    for (const n of names as string[]) {
      if (dir.get(n)?.source === 'runtime') await dir.delete(n);
    }
    return reply.code(204).send();
  });
}
