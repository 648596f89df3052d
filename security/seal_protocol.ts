/**
 * Messages between the keyring's {@linkcode WorkerSealer} and the seal
 * worker. A batch crosses as one packed buffer each way (transferred, not
 * copied): per record `u32 len(aad) ‖ aad ‖ u32 len(plaintext) ‖ plaintext`
 * in, the sealed records back to back out.
 *
 * @module
 */

/** To the worker. */
export type ToSealWorker =
  /** A data key the following batches may name (sent once per key). */
  | { type: "key"; keyId: number; key: CryptoKey }
  /** Seal `count` packed records under data key `keyId`. */
  | {
    type: "seal";
    id: number;
    keyId: number;
    count: number;
    input: ArrayBuffer;
    outputLength: number;
  };

/** From the worker. */
export type FromSealWorker =
  /** The worker has loaded: batches may come (its first message). */
  | { type: "ready" }
  /** The sealed records of batch `id`, back to back, in order. */
  | { type: "sealed"; id: number; output: ArrayBuffer }
  /** Batch `id` could not be sealed there (the caller seals it itself). */
  | { type: "failed"; id: number; error: string };
