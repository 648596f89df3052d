/**
 * Every configuration key Miranda reads, in one table: its type, default,
 * flag, environment variable and a line of documentation. The loader and the
 * README's configuration table both come from here, so they cannot drift.
 *
 * @module
 */

/** The shape of a loaded configuration. */
export interface Config {
  dataDir: string;
  listen: string;
  insecureHttp: boolean;
  tlsHosts: string[];
  passphraseFile: string | null;
  logLevel: "debug" | "info" | "warn" | "error";
  maxBodyBytes: number;
  maxBodyBytesInFlight: number;
  maxBodyBytesInFlightPerCaller: number;
  bodyReadTimeoutMs: number;
  maxHeaderCount: number;
  shutdownTimeoutMs: number;
  panicMode: "halt" | "shutdown" | "continue";
  maxRestarts: number;
  restartPeriodMs: number;
  mailboxCapacity: number;
  askTimeoutMs: number;
  unsealAttemptsPerMinute: number;
  sessionTtlMs: number;
  sessionSweepMs: number;
  accessTokenTtlSeconds: number;
  jwtIssuer: string;
  jwtAudience: string;
  authFailuresPerMinute: number;
  publishRatePerSecond: number;
  publishBurst: number;
  auditRetentionDays: number;
  externalIssuers: string;
  batchMaxEvents: number;
  batchMaxBytes: number;
  batchMaxDelayMs: number;
  walPreallocateBytes: number;
  probeInitialMs: number;
  retryInitialMs: number;
  deliveryWaitCapMs: number;
  recordFlushMs: number;
  maxConcurrentDeliveries: number;
  deliveryKeepAliveMs: number;
  deliveryThread: "main" | "worker";
  allowedPrivateCidrs: string[];
  retentionSweepMs: number;
}

/** How a key's text (flag or env) is parsed. */
export type KeyKind =
  | { kind: "string" }
  | { kind: "path" }
  | { kind: "listen" }
  | { kind: "boolean" }
  | { kind: "integer"; min: number; max: number }
  | { kind: "enum"; values: readonly string[] }
  | { kind: "list" }
  | { kind: "json" };

/** One documented configuration key. */
export interface KeySpec<K extends keyof Config = keyof Config> {
  key: K;
  flag: string;
  env: string;
  type: KeyKind;
  default: Config[K];
  doc: string;
}

function spec<K extends keyof Config>(s: KeySpec<K>): KeySpec<K> {
  return s;
}

/** The table of every key, in the order the README lists them. */
export const CONFIG_KEYS: readonly KeySpec[] = [
  spec({
    key: "dataDir",
    flag: "--data-dir",
    env: "MIRANDA_DATA_DIR",
    type: { kind: "path" },
    default: "./data",
    doc: "Directory of the embedded store, key material and certificates",
  }),
  spec({
    key: "listen",
    flag: "--listen",
    env: "MIRANDA_LISTEN",
    type: { kind: "listen" },
    default: "127.0.0.1:8443",
    doc: "Address and port to listen on (`HOST:PORT`; port 0 picks a free one)",
  }),
  spec({
    key: "insecureHttp",
    flag: "--insecure-http",
    env: "MIRANDA_INSECURE_HTTP",
    type: { kind: "boolean" },
    default: false,
    doc:
      "Serve plain HTTP instead of HTTPS (only behind a TLS-terminating proxy)",
  }),
  spec({
    key: "tlsHosts",
    flag: "--tls-hosts",
    env: "MIRANDA_TLS_HOSTS",
    type: { kind: "list" },
    default: ["localhost", "127.0.0.1", "::1"],
    doc:
      "Host names and IPs (comma-separated) the node certificate made by `init` covers",
  }),
  spec({
    key: "passphraseFile",
    flag: "--passphrase-file",
    env: "MIRANDA_PASSPHRASE_FILE",
    type: { kind: "path" },
    default: null,
    doc: "File holding the passphrase that unlocks the key material",
  }),
  spec({
    key: "logLevel",
    flag: "--log-level",
    env: "MIRANDA_LOG_LEVEL",
    type: { kind: "enum", values: ["debug", "info", "warn", "error"] },
    default: "info",
    doc: "Lowest level of the JSON log lines written to stderr",
  }),
  spec({
    key: "maxBodyBytes",
    flag: "--max-body-bytes",
    env: "MIRANDA_MAX_BODY_BYTES",
    type: { kind: "integer", min: 1, max: 256 * 1024 * 1024 },
    default: 1024 * 1024,
    doc: "Largest request body accepted on any route (413 above it)",
  }),
  spec({
    key: "maxBodyBytesInFlight",
    flag: "--max-body-bytes-in-flight",
    env: "MIRANDA_MAX_BODY_BYTES_IN_FLIGHT",
    type: { kind: "integer", min: 1, max: 16 * 1024 * 1024 * 1024 },
    default: 16 * 1024 * 1024,
    doc:
      "Request bodies (by declared size; the body limit for a body without one) being received or handled at once under /api and /topics; a request past it is answered 503 overloaded (one is always let through)",
  }),
  spec({
    key: "maxBodyBytesInFlightPerCaller",
    flag: "--max-body-bytes-in-flight-per-caller",
    env: "MIRANDA_MAX_BODY_BYTES_IN_FLIGHT_PER_CALLER",
    type: { kind: "integer", min: 1, max: 16 * 1024 * 1024 * 1024 },
    default: 4 * 1024 * 1024,
    doc:
      "The share of maxBodyBytesInFlight one caller (a user, else a client address) may hold; a request past it is answered 429 rate_limited (one is always let through)",
  }),
  spec({
    key: "bodyReadTimeoutMs",
    flag: "--body-read-timeout-ms",
    env: "MIRANDA_BODY_READ_TIMEOUT_MS",
    type: { kind: "integer", min: 100, max: 3_600_000 },
    default: 30_000,
    doc:
      "Time a request body under /api and /topics may take to arrive once the route reads it; past it the request is answered 408 request_timeout",
  }),
  spec({
    key: "maxHeaderCount",
    flag: "--max-header-count",
    env: "MIRANDA_MAX_HEADER_COUNT",
    type: { kind: "integer", min: 8, max: 96 },
    default: 64,
    doc:
      "Most request headers accepted (431 above it; the HTTP server itself refuses more than about 100 with a bare 400)",
  }),
  spec({
    key: "shutdownTimeoutMs",
    flag: "--shutdown-timeout-ms",
    env: "MIRANDA_SHUTDOWN_TIMEOUT_MS",
    type: { kind: "integer", min: 0, max: 600_000 },
    default: 10_000,
    doc:
      "Bound on a graceful shutdown after SIGTERM/SIGINT; past it the process exits 1",
  }),
  spec({
    key: "panicMode",
    flag: "--panic-mode",
    env: "MIRANDA_PANIC_MODE",
    type: { kind: "enum", values: ["halt", "shutdown", "continue"] },
    default: "shutdown",
    doc: "What the root supervisor does when restarts escalate to it",
  }),
  spec({
    key: "maxRestarts",
    flag: "--max-restarts",
    env: "MIRANDA_MAX_RESTARTS",
    type: { kind: "integer", min: 0, max: 1_000 },
    default: 5,
    doc:
      "Restart intensity: restarts allowed per actor within `restartPeriodMs`",
  }),
  spec({
    key: "restartPeriodMs",
    flag: "--restart-period-ms",
    env: "MIRANDA_RESTART_PERIOD_MS",
    type: { kind: "integer", min: 1, max: 3_600_000 },
    default: 10_000,
    doc: "Restart intensity window",
  }),
  spec({
    key: "mailboxCapacity",
    flag: "--mailbox-capacity",
    env: "MIRANDA_MAILBOX_CAPACITY",
    type: { kind: "integer", min: 1, max: 10_000_000 },
    default: 4096,
    doc:
      "Messages an actor's mailbox holds before senders are pushed back (503)",
  }),
  spec({
    key: "askTimeoutMs",
    flag: "--ask-timeout-ms",
    env: "MIRANDA_ASK_TIMEOUT_MS",
    type: { kind: "integer", min: 1, max: 600_000 },
    default: 5_000,
    doc: "Deadline of a request from the HTTP layer to an actor",
  }),
  spec({
    key: "unsealAttemptsPerMinute",
    flag: "--unseal-attempts-per-minute",
    env: "MIRANDA_UNSEAL_ATTEMPTS_PER_MINUTE",
    type: { kind: "integer", min: 1, max: 10_000 },
    default: 10,
    doc:
      "Unseal attempts accepted per minute per client address (429 above it)",
  }),
  spec({
    key: "sessionTtlMs",
    flag: "--session-ttl-ms",
    env: "MIRANDA_SESSION_TTL_MS",
    type: { kind: "integer", min: 1_000, max: 30 * 24 * 3_600_000 },
    default: 3_600_000,
    doc: "Life of a login session; each use slides it",
  }),
  spec({
    key: "sessionSweepMs",
    flag: "--session-sweep-ms",
    env: "MIRANDA_SESSION_SWEEP_MS",
    type: { kind: "integer", min: 100, max: 24 * 3_600_000 },
    default: 300_000,
    doc: "How often expired sessions are swept from the store",
  }),
  spec({
    key: "accessTokenTtlSeconds",
    flag: "--access-token-ttl-seconds",
    env: "MIRANDA_ACCESS_TOKEN_TTL_SECONDS",
    type: { kind: "integer", min: 10, max: 3_600 },
    default: 900,
    doc: "Life of an access JWT issued by `POST /api/v1/token`",
  }),
  spec({
    key: "jwtIssuer",
    flag: "--jwt-issuer",
    env: "MIRANDA_JWT_ISSUER",
    type: { kind: "string" },
    default: "miranda",
    doc: "`iss` of Miranda's access tokens",
  }),
  spec({
    key: "jwtAudience",
    flag: "--jwt-audience",
    env: "MIRANDA_JWT_AUDIENCE",
    type: { kind: "string" },
    default: "miranda",
    doc:
      "`aud` Miranda expects in client assertions and puts in its access tokens",
  }),
  spec({
    key: "publishRatePerSecond",
    flag: "--publish-rate-per-second",
    env: "MIRANDA_PUBLISH_RATE_PER_SECOND",
    type: { kind: "integer", min: 0, max: 1_000_000 },
    default: 0,
    doc:
      "Publishes each user may make per second on average (a token bucket per user); past it 429 rate_limited with Retry-After; 0 = no limit",
  }),
  spec({
    key: "publishBurst",
    flag: "--publish-burst",
    env: "MIRANDA_PUBLISH_BURST",
    type: { kind: "integer", min: 0, max: 1_000_000 },
    default: 0,
    doc:
      "Publishes a user may make at once above publishRatePerSecond (the bucket's size); 0 = one second's worth",
  }),
  spec({
    key: "authFailuresPerMinute",
    flag: "--auth-failures-per-minute",
    env: "MIRANDA_AUTH_FAILURES_PER_MINUTE",
    type: { kind: "integer", min: 1, max: 100_000 },
    default: 30,
    doc:
      "Failed logins or tokens accepted per minute per client address and per user (429 above it)",
  }),
  spec({
    key: "auditRetentionDays",
    flag: "--audit-retention-days",
    env: "MIRANDA_AUDIT_RETENTION_DAYS",
    type: { kind: "integer", min: 1, max: 36_500 },
    default: 365,
    doc: "Audit records older than this are pruned",
  }),
  spec({
    key: "externalIssuers",
    flag: "--external-issuers",
    env: "MIRANDA_EXTERNAL_ISSUERS",
    type: { kind: "json" },
    default: "[]",
    doc:
      "JSON list of trusted OAuth2 issuers: `{issuer, jwksUrl, audience, roleClaim, scopeClaim?, roleMap}`",
  }),
  spec({
    key: "batchMaxEvents",
    flag: "--batch-max-events",
    env: "MIRANDA_BATCH_MAX_EVENTS",
    type: { kind: "integer", min: 1, max: 100_000 },
    default: 512,
    doc: "Group commit: a write batch commits when it holds this many events",
  }),
  spec({
    key: "batchMaxBytes",
    flag: "--batch-max-bytes",
    env: "MIRANDA_BATCH_MAX_BYTES",
    type: { kind: "integer", min: 1, max: 1024 * 1024 * 1024 },
    default: 8 * 1024 * 1024,
    doc:
      "Group commit: a write batch commits when its bodies reach this many bytes; while every commit slot is busy and the open batch is full (by events or bytes), publishes are answered 503 overloaded",
  }),
  spec({
    key: "batchMaxDelayMs",
    flag: "--batch-max-delay-ms",
    env: "MIRANDA_BATCH_MAX_DELAY_MS",
    type: { kind: "integer", min: 0, max: 1_000 },
    default: 2,
    doc:
      "Group commit: a write batch commits at the latest this long after its first event, or once the commit before it ends if that is later (a second commit starts beside it only with a full batch)",
  }),
  spec({
    key: "walPreallocateBytes",
    flag: "--wal-preallocate-bytes",
    env: "MIRANDA_WAL_PREALLOCATE_BYTES",
    type: { kind: "integer", min: 0, max: 1024 * 1024 * 1024 },
    default: 80 * 1024 * 1024,
    doc:
      "The embedded store's write-ahead log is zero-filled to this size at start, so that commits overwrite blocks already on disk instead of appending (an ext4 journal abort can drop an append whose flush said it succeeded); when the log grows past it, zero-filled room (a quarter of this, at most 8 MiB) is kept ahead of its last frame; 0 turns both off",
  }),
  spec({
    key: "probeInitialMs",
    flag: "--probe-initial-ms",
    env: "MIRANDA_PROBE_INITIAL_MS",
    type: { kind: "integer", min: 10, max: 3_600_000 },
    default: 1_000,
    doc:
      "First wait before probing an unreachable subscriber's liveness URL; doubles up to the cap",
  }),
  spec({
    key: "retryInitialMs",
    flag: "--retry-initial-ms",
    env: "MIRANDA_RETRY_INITIAL_MS",
    type: { kind: "integer", min: 10, max: 3_600_000 },
    default: 1_000,
    doc:
      "First backoff after a non-2xx answer; grows exponentially with jitter up to the cap",
  }),
  spec({
    key: "deliveryWaitCapMs",
    flag: "--delivery-wait-cap-ms",
    env: "MIRANDA_DELIVERY_WAIT_CAP_MS",
    type: { kind: "integer", min: 10, max: 86_400_000 },
    default: 300_000,
    doc: "Longest wait between probes, retries, or after a Retry-After",
  }),
  spec({
    key: "recordFlushMs",
    flag: "--record-flush-ms",
    env: "MIRANDA_RECORD_FLUSH_MS",
    type: { kind: "integer", min: 1, max: 60_000 },
    default: 50,
    doc: "How long async delivery records are buffered before they are written",
  }),
  spec({
    key: "maxConcurrentDeliveries",
    flag: "--max-concurrent-deliveries",
    env: "MIRANDA_MAX_CONCURRENT_DELIVERIES",
    type: { kind: "integer", min: 1, max: 100_000 },
    default: 1024,
    doc: "Deliveries in flight at once on this node, over every subscription",
  }),
  spec({
    key: "deliveryKeepAliveMs",
    flag: "--delivery-keep-alive-ms",
    env: "MIRANDA_DELIVERY_KEEP_ALIVE_MS",
    type: { kind: "integer", min: 100, max: 600_000 },
    default: 4_000,
    doc:
      "How long an idle connection to a subscriber is kept for the next delivery",
  }),
  spec({
    key: "deliveryThread",
    flag: "--delivery-thread",
    env: "MIRANDA_DELIVERY_THREAD",
    type: { kind: "enum", values: ["main", "worker"] },
    default: "worker",
    doc:
      "Where deliveries' HTTP requests run: a worker thread of their own beyond a light load (up to 8 at once stay on the main thread, and no worker is started for them), or always the node's main thread (one-at-a-time subscriptions and probes always use the main thread)",
  }),
  spec({
    key: "allowedPrivateCidrs",
    flag: "--allowed-private-cidrs",
    env: "MIRANDA_ALLOWED_PRIVATE_CIDRS",
    type: { kind: "list" },
    default: [],
    doc:
      "Loopback/private ranges (comma-separated CIDRs) any subscriber may deliver to; admins may always",
  }),
  spec({
    key: "retentionSweepMs",
    flag: "--retention-sweep-ms",
    env: "MIRANDA_RETENTION_SWEEP_MS",
    type: { kind: "integer", min: 100, max: 86_400_000 },
    default: 60_000,
    doc:
      "How often events past their topic's retention are removed (undelivered ones recorded as expired)",
  }),
];
