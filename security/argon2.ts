/**
 * Argon2id in a short-lived worker. hash-wasm needs WASM memory as large as
 * the cost parameter (19 MiB by default), and WASM memory never shrinks: in
 * the node's own isolate it would stay resident for the process's life. A
 * worker is dropped after each hash, and its memory with it.
 *
 * @module
 */

import { hasFreeDescriptors } from "../observability/descriptors.ts";

/** One hash to compute (what the worker receives). */
export interface Argon2Request {
  password: string;
  salt: Uint8Array;
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  hashLength: number;
}

/** The worker's answer. */
export type Argon2Reply =
  | { ok: true; hash: Uint8Array }
  | { ok: false; error: string };

/** Computes Argon2id of `request.password` in a worker of its own. */
export function deriveArgon2id(request: Argon2Request): Promise<Uint8Array> {
  if (!hasFreeDescriptors()) {
    return Promise.reject(
      new Error(
        "Argon2id needs a worker and no file descriptor is free for it; retry later",
      ),
    );
  }
  const worker = new Worker(
    new URL("./argon2_worker.ts", import.meta.url).href,
    { type: "module" },
  );
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  worker.onmessage = (event: MessageEvent<Argon2Reply>) => {
    const reply = event.data;
    if (reply.ok) resolve(reply.hash);
    else reject(new Error(`Argon2id failed: ${reply.error}`));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    reject(new Error(`Argon2id worker failed: ${event.message}`));
  };
  worker.postMessage(request);
  return promise.finally(() => worker.terminate());
}
