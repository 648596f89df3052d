import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { Buffer } from "node:buffer";
import {
  InvalidSecretError,
  newSigningSecret,
  signatureHeader,
  signWebhook,
} from "../../delivery/signature.ts";

const encoder = new TextEncoder();

/** Independent computation with node:crypto. */
function reference(
  secret: string,
  id: string,
  timestamp: number,
  body: Uint8Array,
): string {
  const key = Buffer.from(secret.slice("whsec_".length), "base64");
  const mac = createHmac("sha256", key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest("base64");
  return `v1,${mac}`;
}

Deno.test("signature: reproduces the published Standard Webhooks test vector", () => {
  const signature = signWebhook({
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
    timestamp: 1614265330,
    body: encoder.encode('{"test": 2432232314}'),
  });
  assert.equal(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
});

Deno.test("signature: matches node:crypto HMAC for random secrets and binary bodies", () => {
  for (let i = 0; i < 20; i++) {
    const secret = newSigningSecret();
    const body = crypto.getRandomValues(new Uint8Array(i * 37));
    const id = crypto.randomUUID();
    const timestamp = 1_700_000_000 + i;
    assert.equal(
      signWebhook({ secret, id, timestamp, body }),
      reference(secret, id, timestamp, body),
    );
  }
});

Deno.test("signature: keys shorter than, as long as and longer than SHA-256's 64-byte block sign as node:crypto's HMAC does", () => {
  for (const length of [1, 24, 63, 64, 65, 100, 200]) {
    const secret = `whsec_${
      Buffer.from(crypto.getRandomValues(new Uint8Array(length))).toString(
        "base64",
      )
    }`;
    const body = crypto.getRandomValues(new Uint8Array(length * 3));
    const id = crypto.randomUUID();
    for (const timestamp of [1_700_000_000, 1_700_000_001]) {
      assert.equal(
        signWebhook({ secret, id, timestamp, body }),
        reference(secret, id, timestamp, body),
        `a ${length}-byte key`,
      );
    }
  }
});

Deno.test("signature: new secrets are whsec_ plus base64 of 24 random bytes", () => {
  const a = newSigningSecret();
  const b = newSigningSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]{32}$/);
  assert.equal(Buffer.from(a.slice(6), "base64").length, 24);
  assert.notEqual(a, b);
});

Deno.test("signature: a malformed secret is refused with InvalidSecretError", () => {
  const input = { id: "x", timestamp: 1, body: new Uint8Array() };
  assert.throws(
    () => signWebhook({ ...input, secret: "MfKQ9r8GKYqrTwjU" }),
    InvalidSecretError,
  );
  assert.throws(
    () => signWebhook({ ...input, secret: "whsec_not*base64" }),
    InvalidSecretError,
  );
});

Deno.test("signature: both secrets sign during the grace period, only the current one after", () => {
  const current = newSigningSecret();
  const previous = newSigningSecret();
  const secrets = { current, previous: { secret: previous, until: 2_000 } };
  const input = { id: "evt", timestamp: 1, body: encoder.encode("hi") };
  const during = signatureHeader(secrets, { ...input, now: 1_999 });
  assert.equal(
    during,
    `${reference(current, "evt", 1, input.body)} ${
      reference(previous, "evt", 1, input.body)
    }`,
  );
  const after = signatureHeader(secrets, { ...input, now: 2_000 });
  assert.equal(after, reference(current, "evt", 1, input.body));
  assert.equal(
    signatureHeader({ current, previous: null }, { ...input, now: 0 }),
    reference(current, "evt", 1, input.body),
  );
});
