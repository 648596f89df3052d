/**
 * A Miranda node for the crash tests and the chaos runs: the real binary
 * (`miranda start --insecure-http`) on a data directory that survives
 * `kill -9` and restarts, short courier waits, the admin logged in, and
 * small API helpers (topics, subscriptions, seal, metrics).
 *
 * @module
 */

import { dirname } from "node:path";
import {
  request,
  type ServerProcess,
  startServer,
  tempDir,
  TEST_PASSPHRASE,
} from "../../tests/e2e/harness.ts";
import {
  accessToken,
  call,
  createUser,
  login,
} from "../../tests/support/identity_client.ts";
import { FAST_WAITS } from "../../tests/support/pipeline_client.ts";

/** Options of {@linkcode ChaosNode}. */
export interface ChaosNodeOptions {
  /** Flags added after the defaults (later flags win). */
  args?: string[];
  env?: Record<string, string>;
  /** Where the data directory lives; a fresh temporary root by default. */
  root?: string;
  /** The process's descriptor limit (`ulimit -n`); the system's by default. */
  maxOpenFiles?: number;
}

/**
 * A node whose process can be killed and started again on the same data.
 * `bearer` is the admin's token, refreshed by `restart`.
 */
export class ChaosNode implements AsyncDisposable {
  readonly root: string;
  readonly dataDir: string;
  readonly #options: ChaosNodeOptions;
  readonly #ownsRoot: boolean;
  #exited = false;
  server: ServerProcess | null = null;
  bearer = "";
  /** The URL of the latest process, kept while it is down (requests then fail). */
  lastUrl = "";
  /** Every stderr log of every process this node ran, in order. */
  readonly logs: string[] = [];
  /** Exit statuses of processes that ended. */
  readonly exits: Deno.CommandStatus[] = [];

  private constructor(root: string, owns: boolean, options: ChaosNodeOptions) {
    this.root = root;
    this.dataDir = `${root}/data`;
    this.#ownsRoot = owns;
    this.#options = options;
  }

  /** Initialises and starts a node, logs the admin in. */
  static async start(options: ChaosNodeOptions = {}): Promise<ChaosNode> {
    const root = options.root ?? await tempDir();
    const node = new ChaosNode(root, options.root === undefined, options);
    await node.launch();
    return node;
  }

  /** The base URL of the running process. */
  get url(): string {
    if (this.server === null) throw new Error("The node is not running");
    return this.server.url;
  }

  /** Starts the process on the data directory and logs the admin in. */
  async launch(extraArgs: string[] = []): Promise<void> {
    if (this.server !== null) {
      // The previous process ended by itself: keep its status and log.
      this.exits.push(await this.server.stop("SIGKILL"));
      this.logs.push(this.server.stderr());
    }
    this.server = await startServer({
      dataDir: this.dataDir,
      args: [
        "--insecure-http",
        "--auth-failures-per-minute",
        "100000",
        "--log-level",
        "warn",
        ...FAST_WAITS,
        ...(this.#options.args ?? []),
        ...extraArgs,
      ],
      env: { MIRANDA_PASSPHRASE: TEST_PASSPHRASE, ...this.#options.env },
      ...(this.#options.maxOpenFiles === undefined
        ? {}
        : { maxOpenFiles: this.#options.maxOpenFiles }),
    });
    this.lastUrl = this.server.url;
    const server = this.server;
    this.#exited = false;
    server.child.status.then(() => {
      if (this.server === server) this.#exited = true;
    });
    await this.relogin();
  }

  /** False once the running process ended by itself (not by `kill`). */
  get running(): boolean {
    return this.server !== null && !this.#exited;
  }

  /** Logs the admin in again (after a seal dropped the token keys). */
  async relogin(): Promise<void> {
    const adminKey = await Deno.readTextFile(
      `${dirname(this.dataDir)}/admin-key.pem`,
    );
    this.bearer = await login(this.url, "admin", adminKey);
  }

  /** `kill -9` (or `signal`) the process and wait for it to end. */
  async kill(signal: Deno.Signal = "SIGKILL"): Promise<Deno.CommandStatus> {
    const server = this.server;
    if (server === null) throw new Error("The node is not running");
    this.server = null;
    const status = await server.stop(signal);
    this.exits.push(status);
    this.logs.push(server.stderr());
    return status;
  }

  /** Kills the process and starts a new one on the same data. */
  async restart(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    await this.kill(signal);
    await this.launch();
  }

  /** The running process's stderr so far plus that of the ended ones. */
  allLogs(): string {
    return [...this.logs, this.server?.stderr() ?? ""].join("\n");
  }

  /** Creates a topic (admin); asserts 201. */
  async createTopic(
    name: string,
    ack: "received" | "persisted" = "persisted",
  ): Promise<void> {
    const answer = await call(this.url, "POST", "/api/v1/topics", {
      bearer: this.bearer,
      json: { name, ack, retention: "7d" },
    });
    if (answer.status !== 201) {
      throw new Error(`Topic "${name}" not created: ${answer.text}`);
    }
  }

  /**
   * Creates a user with the publisher role and the right to publish to
   * `topic`, and returns its access token (for limits kept per user).
   */
  async publisher(name: string, topic: string): Promise<string> {
    const user = await createUser(this.url, this.bearer, name, {
      algorithm: "Ed25519",
      roles: ["publisher"],
    });
    const granted = await call(
      this.url,
      "PUT",
      `/api/v1/topics/${topic}/grants/user:${name}`,
      { bearer: this.bearer, json: { rights: ["publish"] } },
    );
    if (granted.status !== 200) {
      throw new Error(`Grant to "${name}" not made: ${granted.text}`);
    }
    return await accessToken(this.url, user);
  }

  /** Creates a subscription (admin, so loopback is allowed); returns its id. */
  async subscribe(settings: {
    topic: string;
    url: string;
    livenessUrl?: string;
    ordered?: boolean;
    maxInFlight?: number;
    failurePolicy?: { mode: "retry" | "deadLetter"; maxAttempts: number };
    timeoutMs?: number;
    record?: "sync" | "async";
  }): Promise<string> {
    const answer = await call(this.url, "POST", "/api/v1/subscriptions", {
      bearer: this.bearer,
      json: settings,
    });
    if (answer.status !== 201) {
      throw new Error(`Subscription not created: ${answer.text}`);
    }
    return String(answer.body["id"]);
  }

  /** The store's write-ahead log file size, in bytes (filled to `walPreallocateBytes` at start). */
  async walBytes(): Promise<number> {
    return (await Deno.stat(`${this.dataDir}/miranda.db-wal`)).size;
  }

  /** The Prometheus text of `/metrics`. */
  async metrics(): Promise<string> {
    const answer = await request(`${this.url}/metrics`);
    return answer.text;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.server !== null) await this.kill();
    if (this.#ownsRoot) {
      await Deno.remove(this.root, { recursive: true }).catch(() => {});
    }
  }
}

/**
 * Sums the samples of `name` in Prometheus text whose labels contain every
 * `label="value"` pair given (all samples when none).
 */
export function metricSum(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match === null || match[1] !== name) continue;
    const labelText = match[2] ?? "";
    const wanted = Object.entries(labels).every(([k, v]) =>
      labelText.includes(`${k}="${v}"`)
    );
    if (wanted) sum += Number(match[3]);
  }
  return sum;
}

/** The status `/readyz` answers at `url` now (0 when the request fails). */
export async function readyStatus(url: string): Promise<number> {
  try {
    const response = await fetch(`${url}/readyz`);
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}
