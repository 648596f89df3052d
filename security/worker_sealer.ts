/**
 * Seals batches of records on a worker thread (`security/seal_worker.ts`):
 * a group commit's records cross as one packed buffer and come back as
 * another, so the node's thread spends a few µs per record on packing where
 * sealing it there costs ~10 µs (`deno run -A bench/probes/seal_costs.ts`
 * measures both).
 * Only worth it for batches: one round trip costs the thread more than a
 * few seals, so the keyring seals small batches itself.
 *
 * The worker (an isolate of its own) is started by
 * {@linkcode WorkerSealer.warm} when the first large batch comes, and takes
 * batches only once it has said it is ready: until then the keyring seals on
 * its own thread, so no commit waits for the worker's module to load (and
 * every commit behind it with it). Starting it still holds the calling
 * thread up: `new Worker` takes 8–18 ms there on this machine. So a
 * worker, once started, stays until {@linkcode WorkerSealer.close} (which
 * the keyring's wipe calls): terminating one gave back only ~4 of the ~20
 * MB it took (`deno run -A bench/probes/worker_start.ts`), and the next
 * burst would pay another start. It holds only the
 * data keys batches have named. A batch the worker cannot seal rejects; the
 * keyring then seals it itself. A worker that fails is not started again for
 * {@linkcode RESTART_AFTER_FAILURE_MS}.
 *
 * @module
 */

import type { FromSealWorker, ToSealWorker } from "./seal_protocol.ts";
import { sealedLength } from "./sealed_record.ts";
import { hasFreeDescriptors } from "../observability/descriptors.ts";

/** One record to seal: its plaintext and its encoded record reference. */
export interface SealJob {
  plaintext: Uint8Array;
  aad: Uint8Array;
}

/** How the worker is run; the default serves the node, the rest is for tests. */
export interface WorkerSealerOptions {
  /** The worker's module; `security/seal_worker.ts` by default. */
  workerUrl?: string;
}

/** How long after a worker failed no other is started, in ms. */
export const RESTART_AFTER_FAILURE_MS = 10_000;

interface Waiting {
  resolve(output: ArrayBuffer): void;
  reject(error: Error): void;
}

/** Seals packed batches on a worker started when needed. */
export class WorkerSealer {
  readonly #workerUrl: string;
  #worker: Worker | null = null;
  #ready = false;
  #failedAt = -Infinity;
  #batches = 0;
  #keysSent = new Set<number>();
  #waiting = new Map<number, Waiting>();
  #nextId = 1;

  /** A sealer with no worker yet. */
  constructor(options: WorkerSealerOptions = {}) {
    this.#workerUrl = options.workerUrl ??
      new URL("./seal_worker.ts", import.meta.url).href;
  }

  /** Whether a worker is running now (none before the first large batch, after a failure and once closed). */
  get running(): boolean {
    return this.#worker !== null;
  }

  /** Whether the running worker has said it is ready for batches. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Batches sealed on a worker so far (for tests and probes). */
  get batches(): number {
    return this.#batches;
  }

  /**
   * Starts a worker unless one runs or one failed less than
   * {@linkcode RESTART_AFTER_FAILURE_MS} ago; it is ready a little later.
   */
  warm(): void {
    if (this.#worker !== null) return;
    if (performance.now() - this.#failedAt < RESTART_AFTER_FAILURE_MS) return;
    if (!hasFreeDescriptors()) {
      // No descriptor to spare: seal on the thread, and ask again later.
      this.#failedAt = performance.now();
      return;
    }
    this.#start();
  }

  /**
   * Seals `jobs` under data key `keyId` on the worker; sealed records in
   * order. Rejects unless the worker is {@linkcode WorkerSealer.ready}.
   */
  async seal(
    keyId: number,
    key: CryptoKey,
    jobs: readonly SealJob[],
  ): Promise<Uint8Array<ArrayBuffer>[]> {
    const worker = this.#worker;
    if (worker === null || !this.#ready) {
      throw new Error("The seal worker is not ready");
    }
    let inputLength = 0;
    let outputLength = 0;
    for (const job of jobs) {
      inputLength += 8 + job.aad.length + job.plaintext.length;
      outputLength += sealedLength(job.plaintext.length);
    }
    const input = new Uint8Array(inputLength);
    const view = new DataView(input.buffer);
    let at = 0;
    for (const { aad, plaintext } of jobs) {
      view.setUint32(at, aad.length);
      input.set(aad, at + 4);
      at += 4 + aad.length;
      view.setUint32(at, plaintext.length);
      input.set(plaintext, at + 4);
      at += 4 + plaintext.length;
    }
    if (!this.#keysSent.has(keyId)) {
      worker.postMessage({ type: "key", keyId, key } satisfies ToSealWorker);
      this.#keysSent.add(keyId);
    }
    const id = this.#nextId++;
    const answered = Promise.withResolvers<ArrayBuffer>();
    this.#waiting.set(id, answered);
    worker.postMessage(
      {
        type: "seal",
        id,
        keyId,
        count: jobs.length,
        input: input.buffer,
        outputLength,
      } satisfies ToSealWorker,
      [input.buffer],
    );
    const output = new Uint8Array(await answered.promise);
    this.#batches++;
    const sealed: Uint8Array<ArrayBuffer>[] = [];
    let written = 0;
    for (const job of jobs) {
      const size = sealedLength(job.plaintext.length);
      sealed.push(output.subarray(written, written + size));
      written += size;
    }
    return sealed;
  }

  /** Ends the worker at once; batches in flight reject with `reason`. */
  close(reason: Error): void {
    this.#stop(reason);
  }

  #start(): void {
    const worker = new Worker(this.#workerUrl, { type: "module" });
    worker.onmessage = (event: MessageEvent<FromSealWorker>) => {
      const message = event.data;
      if (message.type === "ready") {
        if (this.#worker === worker) this.#ready = true;
        return;
      }
      const waiting = this.#waiting.get(message.id);
      if (waiting === undefined) return;
      this.#waiting.delete(message.id);
      if (message.type === "sealed") {
        waiting.resolve(message.output);
      } else {
        waiting.reject(new Error(`The seal worker failed: ${message.error}`));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      if (this.#worker === worker) {
        this.#failedAt = performance.now();
        this.#stop(new Error(`The seal worker failed: ${event.message}`));
      }
    };
    this.#worker = worker;
  }

  #stop(reason: Error): void {
    this.#worker?.terminate();
    this.#worker = null;
    this.#ready = false;
    this.#keysSent.clear();
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const { reject } of waiting) reject(reason);
  }
}
