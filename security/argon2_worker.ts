/**
 * Worker body of {@linkcode deriveArgon2id}: computes one Argon2id hash with
 * hash-wasm and posts the bytes back. It lives only for that call, so the
 * WASM memory Argon2 needs (the whole `memoryKiB`) is freed with the worker
 * instead of staying resident in the node for its lifetime.
 *
 * @module
 */

import { argon2id } from "hash-wasm";
import type { Argon2Reply, Argon2Request } from "./argon2.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Argon2Request>) => void) | null;
  postMessage(message: Argon2Reply, transfer?: Transferable[]): void;
};

scope.onmessage = async (event) => {
  const request = event.data;
  try {
    const hash = await argon2id({
      password: request.password,
      salt: request.salt,
      memorySize: request.memoryKiB,
      iterations: request.iterations,
      parallelism: request.parallelism,
      hashLength: request.hashLength,
      outputType: "binary",
    });
    scope.postMessage({ ok: true, hash }, [hash.buffer as ArrayBuffer]);
  } catch (error) {
    scope.postMessage({
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    });
  }
};
