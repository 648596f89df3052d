/**
 * The seal worker: seals packed batches of records with the data keys the
 * keyring posted it (`security/seal_protocol.ts`), so a group commit's
 * AES-GCM work runs beside the node's thread instead of on it. Says it is
 * ready once loaded. Started by `security/worker_sealer.ts`; never on its
 * own.
 *
 * @module
 */

import { KeyObject } from "node:crypto";
import type { FromSealWorker, ToSealWorker } from "./seal_protocol.ts";
import { sealedLength, sealRecordInto } from "./sealed_record.ts";

/** The worker's global scope, as far as this module uses it. */
interface SealWorkerScope {
  onmessage: ((event: MessageEvent<ToSealWorker>) => unknown) | null;
  postMessage(message: FromSealWorker, transfer?: Transferable[]): void;
}

const scope = self as unknown as SealWorkerScope;
const keys = new Map<number, KeyObject>();

function seal(message: Extract<ToSealWorker, { type: "seal" }>): ArrayBuffer {
  const key = keys.get(message.keyId);
  if (key === undefined) throw new Error(`No data key ${message.keyId}`);
  const input = new Uint8Array(message.input);
  const view = new DataView(message.input);
  const output = new Uint8Array(message.outputLength);
  let at = 0;
  let written = 0;
  for (let i = 0; i < message.count; i++) {
    const aadLength = view.getUint32(at);
    const aad = input.subarray(at + 4, at + 4 + aadLength);
    at += 4 + aadLength;
    const length = view.getUint32(at);
    const plaintext = input.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    const size = sealedLength(length);
    sealRecordInto(
      output.subarray(written, written + size),
      message.keyId,
      key,
      plaintext,
      aad,
    );
    written += size;
  }
  if (written !== output.length) throw new Error("Batch lengths disagree");
  return output.buffer;
}

scope.onmessage = (event: MessageEvent<ToSealWorker>) => {
  const message = event.data;
  if (message.type === "key") {
    keys.set(message.keyId, KeyObject.from(message.key));
    return;
  }
  try {
    const output = seal(message);
    scope.postMessage({ type: "sealed", id: message.id, output }, [output]);
  } catch (error) {
    scope.postMessage({ type: "failed", id: message.id, error: String(error) });
  }
};

scope.postMessage({ type: "ready" });
