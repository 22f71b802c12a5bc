import { DEFAULT_HOST, DEFAULT_HTTP_PORT } from '../../../protocol/defaults.js';

/** Metric name prefixes: Skiff's own, or RabbitMQ's so existing dashboards and alerts work. */
export const METRICS_PREFIXES = ['skiff', 'rabbitmq'] as const;
export type MetricsPrefix = (typeof METRICS_PREFIXES)[number];

/** HTTP listener settings (config keys in parentheses; see config.example.toml). */
export interface HttpOptions {
  /** Address to listen on (`http_host`). Default 127.0.0.1. */
  host: string;
  /** Port; 0 picks a free one (`http_port`). Default 15672. */
  port: number;
  /** Largest request body; larger ones get 413 (`http_max_body_bytes`). Default 10 MiB. */
  maxBodyBytes: number;
  /** A request not fully received within this long gets 408 (`http_request_timeout_ms`). Default 30 s. */
  requestTimeoutMs: number;
  /** `skiff` or `rabbitmq`: the first word of every metric name (`metrics_prefix`). */
  metricsPrefix: MetricsPrefix;
  /** Serve `/metrics` without credentials (`metrics_public`). Default false. */
  metricsPublic: boolean;
  /** How often the sampler turns counters into rates (`stats_interval_ms`). Default 5000. */
  statsIntervalMs: number;
  /** Samples of message rates kept for the overview's history (`stats_samples`). Default 120. */
  statsSamples: number;
}

export const DEFAULT_HTTP_OPTIONS: Readonly<HttpOptions> = Object.freeze({
  host: DEFAULT_HOST,
  port: DEFAULT_HTTP_PORT,
  maxBodyBytes: 10 * 1024 * 1024,
  requestTimeoutMs: 30_000,
  metricsPrefix: 'skiff',
  metricsPublic: false,
  statsIntervalMs: 5000,
  statsSamples: 120,
});
