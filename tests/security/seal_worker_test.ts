import assert from "node:assert/strict";
import {
  keyIdOf,
  Keyring,
  type SealRequest,
  WORKER_BATCH_MIN,
} from "../../security/envelope.ts";
import {
  RESTART_AFTER_FAILURE_MS,
  type WorkerSealerOptions,
} from "../../security/worker_sealer.ts";

const aesKey = () =>
  crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);

async function keyring(sealWorker: WorkerSealerOptions = {}): Promise<Keyring> {
  return new Keyring({
    dataKeys: new Map([[1, await aesKey()]]),
    activeKeyId: 1,
    lookupKey: await crypto.subtle.generateKey(
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    ),
    rootKey: await crypto.subtle.generateKey(
      { name: "AES-GCM", length: 256 },
      true,
      ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    ),
  }, { sealWorker });
}

function records(count: number): SealRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    plaintext: new TextEncoder().encode(`{"n":${i}}`.padEnd(40 + i, " ")),
    ref: { kind: "event", id: `evt_${i}` },
  }));
}

async function assertOpens(
  ring: Keyring,
  sealed: Uint8Array[],
  batch: SealRequest[],
): Promise<void> {
  assert.equal(sealed.length, batch.length);
  for (const [i, { plaintext, ref }] of batch.entries()) {
    assert.deepEqual(await ring.open(sealed[i]!, ref), plaintext);
  }
}

/** A keyring whose seal worker has started and said it is ready. */
async function readyKeyring(
  sealWorker: WorkerSealerOptions = {},
): Promise<Keyring> {
  const ring = await keyring(sealWorker);
  await ring.sealMany(records(WORKER_BATCH_MIN));
  await eventually(() => ring.sealWorkerReady);
  return ring;
}

/** Waits (up to 5 s) for `condition`. */
async function eventually(condition: () => boolean): Promise<void> {
  const until = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > until) throw new Error("Timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("seal worker: the first large batch is sealed on the calling thread while the worker starts, so no commit waits for an isolate", async () => {
  const ring = await keyring();
  try {
    const first = records(WORKER_BATCH_MIN + 4);
    await assertOpens(ring, await ring.sealMany(first), first);
    assert.equal(ring.sealWorkerRunning, true, "started beside the batch");
    assert.equal(ring.sealWorkerBatches, 0, "the batch did not wait for it");
    await eventually(() => ring.sealWorkerReady);
    const second = records(WORKER_BATCH_MIN);
    await assertOpens(ring, await ring.sealMany(second), second);
    assert.equal(ring.sealWorkerBatches, 1);
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: once ready it seals a batch of WORKER_BATCH_MIN or more, each record opening under its own reference only", async () => {
  const ring = await readyKeyring();
  try {
    const batch = records(WORKER_BATCH_MIN + 12);
    const sealed = await ring.sealMany(batch);
    assert.equal(ring.sealWorkerBatches, 1);
    await assertOpens(ring, sealed, batch);
    await assert.rejects(() => ring.open(sealed[0]!, batch[1]!.ref), {
      name: "DecryptError",
    });
    const nonces = new Set(
      sealed.map((record) => record.subarray(5, 17).toHex()),
    );
    assert.equal(nonces.size, batch.length, "a fresh nonce per record");
    assert.equal(
      ring.sealsUnderActiveKey,
      WORKER_BATCH_MIN + batch.length,
      "the warming batch and this one",
    );
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: a smaller batch is sealed on the calling thread and starts no worker", async () => {
  const ring = await keyring();
  try {
    const batch = records(WORKER_BATCH_MIN - 1);
    await assertOpens(ring, await ring.sealMany(batch), batch);
    assert.equal(ring.sealWorkerRunning, false);
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: a batch after a key rotation is sealed under the new key", async () => {
  const ring = await readyKeyring();
  try {
    const rotated = ring.withActiveKey(2, await aesKey());
    const batch = records(WORKER_BATCH_MIN);
    const sealed = await rotated.sealMany(batch);
    assert.equal(rotated.sealWorkerBatches, 1, "sealed on the worker");
    assert.deepEqual(sealed.map(keyIdOf), batch.map(() => 2));
    await assertOpens(rotated, sealed, batch);
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: wiping the keyring while a batch is on the worker refuses it with SealedError and ends the worker", async () => {
  const ring = await readyKeyring();
  const sealing = ring.sealMany(records(WORKER_BATCH_MIN * 4));
  ring.wipe();
  assert.equal(ring.sealWorkerRunning, false);
  await assert.rejects(sealing, { name: "SealedError" });
  await assert.rejects(() => ring.sealMany(records(WORKER_BATCH_MIN)), {
    name: "SealedError",
  });
});

Deno.test("seal worker: with a worker that fails, batches are sealed on the calling thread and no other worker starts for a while", async () => {
  const broken = `data:application/javascript,${
    encodeURIComponent('throw new Error("no seal worker here");')
  }`;
  const ring = await keyring({ workerUrl: broken });
  try {
    const batch = records(WORKER_BATCH_MIN * 2);
    await assertOpens(ring, await ring.sealMany(batch), batch);
    await eventually(() => !ring.sealWorkerRunning);
    const again = records(WORKER_BATCH_MIN);
    await assertOpens(ring, await ring.sealMany(again), again);
    assert.equal(
      ring.sealWorkerRunning,
      false,
      `not restarted within ${RESTART_AFTER_FAILURE_MS} ms`,
    );
    assert.equal(ring.sealWorkerBatches, 0);
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: a batch the worker refuses is sealed on the calling thread", async () => {
  // Ready at once, then refuses every batch.
  const refusing = `data:application/javascript,${
    encodeURIComponent(
      'self.onmessage = (e) => { if (e.data.type === "seal") self.postMessage({ type: "failed", id: e.data.id, error: "refused" }); }; self.postMessage({ type: "ready" });',
    )
  }`;
  const ring = await readyKeyring({ workerUrl: refusing });
  try {
    const batch = records(WORKER_BATCH_MIN * 2);
    await assertOpens(ring, await ring.sealMany(batch), batch);
    assert.equal(ring.sealWorkerBatches, 0);
  } finally {
    ring.wipe();
  }
});

Deno.test("seal worker: a worker that has said it is ready seals every later large batch until the keyring is wiped", async () => {
  const ring = await readyKeyring();
  try {
    for (let i = 1; i <= 3; i++) {
      const batch = records(WORKER_BATCH_MIN + i);
      await assertOpens(ring, await ring.sealMany(batch), batch);
      assert.equal(ring.sealWorkerBatches, i);
    }
    assert.equal(ring.sealWorkerRunning, true);
  } finally {
    ring.wipe();
  }
  assert.equal(ring.sealWorkerRunning, false);
});
