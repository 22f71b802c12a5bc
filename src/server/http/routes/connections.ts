import type { FastifyInstance } from 'fastify';
import type { Channel } from '../../../broker/channel.js';
import type { Consumer } from '../../../broker/consumer.js';
import type { Session } from '../../../broker/session.js';
import { connectionOf, vhostsOf, type ApiContext } from '../api-context.js';
import { notFound } from '../errors.js';
import { parseListParams, sendListing } from '../listing.js';
import { DEFAULT_VHOST, type ClientConnectionView } from '../host.js';
import { channelJson, channelName, connectionJson, consumerJson } from '../shapes.js';

interface ChannelItem {
  channel: Channel;
  session: Session;
  conn: ClientConnectionView | undefined;
  vhost: string;
}

/** Client connections, their channels and consumers; closing a connection. Admin only. */
export function connectionRoutes(app: FastifyInstance, ctx: ApiContext): void {
  const node = ctx.host.nodeName;
  const listConnections = (): ClientConnectionView[] => [...ctx.host.connections.list()];
  const vhostOfConnection = (c: ClientConnectionView): string => c.session?.broker.vhost ?? DEFAULT_VHOST;
  const connectionRow = (c: ClientConnectionView): Record<string, unknown> => connectionJson(c, vhostOfConnection(c), node, ctx.sampler.connection(c.id));

  const channels = (vhost: string | undefined, only?: ClientConnectionView): ChannelItem[] => {
    const out: ChannelItem[] = [];
    for (const v of vhostsOf(ctx, vhost)) {
      for (const session of v.broker.sessions.values()) {
        // Sessions of the API's own (publish, get) are not client connections.
        const conn = connectionOf(ctx, session);
        if (conn === undefined || (only !== undefined && conn.id !== only.id)) continue;
        for (const channel of session.channels.values()) out.push({ channel, session, conn, vhost: v.name });
      }
    }
    return out;
  };
  const channelListing = (items: ChannelItem[]) => ({
    items,
    name: (i: ChannelItem) => channelName(i.conn?.name ?? i.session.info.name, i.channel.id),
    vhost: (i: ChannelItem) => i.vhost,
    row: (i: ChannelItem) => channelJson(i.channel, i.conn, i.session, i.vhost, node, ctx.sampler.channel(i.channel)),
  });
  const connection = (name: string): ClientConnectionView => {
    const c = ctx.host.connections.get(name);
    if (c === undefined) throw notFound(`no connection '${name}'`);
    return c;
  };

  const sendConnections = (query: unknown, reply: Parameters<typeof sendListing>[0], vhost?: string) =>
    sendListing(
      reply,
      { items: listConnections().filter((c) => vhost === undefined || vhostOfConnection(c) === vhost), name: (c) => c.name, vhost: vhostOfConnection, row: connectionRow },
      parseListParams(query as Record<string, unknown>),
    );
  app.get('/api/connections', (req, reply) => sendConnections(req.query, reply));
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/connections', (req, reply) => {
    vhostsOf(ctx, req.params.vhost);
    return sendConnections(req.query, reply, req.params.vhost);
  });
  app.get<{ Params: { name: string } }>('/api/connections/:name', (req) => connectionRow(connection(req.params.name)));
  app.delete<{ Params: { name: string } }>('/api/connections/:name', (req, reply) => {
    const c = connection(req.params.name);
    const given = req.headers['x-reason'];
    const reason = typeof given === 'string' && given !== '' ? given : 'closed via management API';
    ctx.host.connections.close(c.id, reason);
    return reply.code(204).send();
  });
  app.get<{ Params: { name: string } }>('/api/connections/:name/channels', (req, reply) =>
    sendListing(reply, channelListing(channels(undefined, connection(req.params.name))), parseListParams(req.query as Record<string, unknown>)),
  );

  app.get('/api/channels', (req, reply) => sendListing(reply, channelListing(channels(undefined)), parseListParams(req.query as Record<string, unknown>)));
  app.get<{ Params: { vhost: string } }>('/api/vhosts/:vhost/channels', (req, reply) =>
    sendListing(reply, channelListing(channels(req.params.vhost)), parseListParams(req.query as Record<string, unknown>)),
  );
  app.get<{ Params: { channel: string } }>('/api/channels/:channel', (req) => {
    const l = channelListing(channels(undefined));
    const item = l.items.find((i) => l.name(i) === req.params.channel);
    if (item === undefined) throw notFound(`no channel '${req.params.channel}'`);
    return l.row(item);
  });

  interface ConsumerItem {
    consumer: Consumer;
    item: ChannelItem;
  }
  const consumers = (vhost: string | undefined): ConsumerItem[] =>
    channels(vhost).flatMap((item) => [...item.channel.consumers.values()].map((consumer) => ({ consumer, item })));
  const sendConsumers = (vhost: string | undefined, query: unknown, reply: Parameters<typeof sendListing>[0]) =>
    sendListing(
      reply,
      {
        items: consumers(vhost),
        name: (c) => `${c.consumer.queue.name}\0${c.consumer.tag}`,
        vhost: (c) => c.item.vhost,
        row: (c) => consumerJson(c.consumer, c.item.conn, c.item.session, c.item.vhost),
      },
      parseListParams(query as Record<string, unknown>),
    );
  app.get('/api/consumers', (req, reply) => sendConsumers(undefined, req.query, reply));
  app.get<{ Params: { vhost: string } }>('/api/consumers/:vhost', (req, reply) => sendConsumers(req.params.vhost, req.query, reply));
}
