import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from '../../log/logger.js';
import { badClientCertificate, type TlsCredentials } from '../tls.js';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { ProtocolError } from '../../../protocol/index.js';
import type { ApiContext } from './api-context.js';
import { registerBasicAuth } from './basic-auth.js';
import { registerBrowserClient } from './browser-client.js';
import { registerDashboard, type Asset, type DashboardAssets } from './dashboard.js';
import { HttpError, badRequest, fromProtocolError } from './errors.js';
import { registerMetrics } from './metrics.js';
import { bindingRoutes } from './routes/bindings.js';
import { connectionRoutes } from './routes/connections.js';
import { definitionRoutes } from './routes/definitions.js';
import { exchangeRoutes } from './routes/exchanges.js';
import { healthRoutes } from './routes/health.js';
import { messageRoutes } from './routes/messages.js';
import { overviewRoutes } from './routes/overview.js';
import { queueRoutes } from './routes/queues.js';
import { policyRoutes } from './routes/policies.js';
import { userRoutes } from './routes/users.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The HTTP API as a fastify instance, not yet listening: basic auth, the management API, the
 * metrics, the health checks and the dashboard, with one error shape (`{error, reason}`) for
 * every refusal. Tests and the listener build it the same way.
 */
export function buildApp(ctx: ApiContext, assets: DashboardAssets, tls: TlsCredentials | null = null, browserAssets: ReadonlyMap<string, Asset> = new Map()): FastifyInstance<Server> {
  const { options } = ctx;
  const app = Fastify({
    loggerInstance: ctx.log,
    // One line per request would be one per dashboard poll; errors are logged once, below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.maxBodyBytes,
    // Types are checked as sent: `"durable": "yes"` is an error, not `true`.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    serverFactory: (handler) => timedServer(handler, options.requestTimeoutMs, tls, ctx.log),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1024 },
  }) as unknown as FastifyInstance<Server>;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer');
    // No CORS: a page of another origin may not change anything, whatever credentials the
    // browser would attach. Browsers always send Origin on cross-origin writes.
    const origin = req.headers.origin;
    if (STATE_CHANGING.has(req.method) && origin !== undefined && origin !== 'null' && hostOf(origin) !== req.headers.host) {
      throw new HttpError(403, 'access_refused', `cross-origin requests are refused (Origin ${origin})`);
    }
  });
  registerBasicAuth(app, ctx.host.auth, ctx.log, (listener) => ctx.host.userDirectory.onChange(listener));
  // State changes carry JSON, never a form: a form post from another site cannot send it.
  app.addHook('preValidation', async (req) => {
    if (req.method !== 'POST' && req.method !== 'PUT' && req.method !== 'PATCH') return;
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') throw unsupportedType(req.headers['content-type']);
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const e = toHttpError(err, options.maxBodyBytes);
    if (e.statusCode >= 500) ctx.log.error({ err, method: req.method, url: req.url }, 'HTTP request failed');
    void reply.code(e.statusCode).headers(e.headers).type('application/json; charset=utf-8').send(e.body);
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: 'not_found', reason: `no such path: ${req.method} ${req.url.split('?')[0]}` });
  });

  overviewRoutes(app, ctx);
  connectionRoutes(app, ctx);
  exchangeRoutes(app, ctx);
  queueRoutes(app, ctx);
  bindingRoutes(app, ctx);
  messageRoutes(app, ctx);
  definitionRoutes(app, ctx);
  userRoutes(app, ctx);
  policyRoutes(app, ctx);
  healthRoutes(app, ctx);
  registerMetrics(app, ctx);
  registerDashboard(app, assets);
  registerBrowserClient(app, browserAssets);
  return app;
}

/**
 * Node's own request timeout answers 408 and closes a connection whose request has not fully
 * arrived in time (a slow client holding sockets); checked a few times per timeout.
 */
function timedServer(handler: (req: IncomingMessage, res: ServerResponse) => void, timeoutMs: number, tls: TlsCredentials | null, log: Logger): Server {
  const timing = {
    requestTimeout: timeoutMs,
    headersTimeout: timeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(timeoutMs / 4))),
    keepAliveTimeout: 5000,
  };
  if (tls === null) return createServer(timing, handler);
  // HTTPS (and wss for the upgrade handlers), reloaded with the other TLS listeners on SIGHUP.
  const server = createHttpsServer({ ...tls.serverOptions(), ...timing }, handler);
  server.on('secureConnection', (socket) => badClientCertificate(tls, socket, log));
  tls.track(server);
  return server as unknown as Server;
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function unsupportedType(type: string | undefined): HttpError {
  const got = type === undefined ? 'none' : `'${type}'`;
  return new HttpError(415, 'unsupported_media_type', `state changes take a JSON body (content-type: application/json), got ${got}`);
}

/** JSON bodies; empty means `{}` (RabbitMQ's rule), and no key may name an object's prototype. */
function parseJson(text: string): unknown {
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new HttpError(400, 'bad_request', "body: key '__proto__' is not allowed");
      return value;
    });
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // V8 quotes the whole text in some messages; a reply should not echo a large body back.
    const why = (err as Error).message.replace(/, ".*" is not valid JSON$/s, '');
    throw badRequest(`body is not valid JSON: ${why}`);
  }
}

/** Every failure as `{error, reason}` with its status: ours, the broker's, and fastify's own. */
function toHttpError(err: FastifyError, maxBodyBytes: number): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ProtocolError) return fromProtocolError(err);
  if (err.validation !== undefined) {
    const v = err.validation[0];
    const where = err.validationContext ?? 'body';
    const path = (v?.instancePath ?? '').split('/').filter((s) => s !== '').join('.');
    const missing = (v?.params as { missingProperty?: string } | undefined)?.missingProperty;
    if (missing !== undefined) return badRequest(`${where}.${path === '' ? '' : `${path}.`}${missing}: is required`);
    return badRequest(`${where}${path === '' ? '' : `.${path}`}: ${v?.message ?? 'is invalid'}`);
  }
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'payload_too_large', `request body is larger than ${maxBodyBytes} bytes (http_max_body_bytes)`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError(415, 'unsupported_media_type', 'state changes take a JSON body (content-type: application/json)');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return badRequest('content-length does not match the body');
  }
  const status = err.statusCode ?? 500;
  if (status < 500) return new HttpError(status, 'bad_request', err.message);
  return new HttpError(500, 'internal_server_error', 'the request failed inside the server; see its log');
}
