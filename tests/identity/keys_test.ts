import assert from "node:assert/strict";
import { bytesToBase64url, encodePem } from "../../identity/encoding.ts";
import {
  generateUserKeyPair,
  parsePublicKey,
  PublicKeyError,
  type PublicKeyRejection,
} from "../../identity/keys.ts";

async function spkiPem(
  algorithm: RsaHashedKeyGenParams | EcKeyGenParams | Algorithm,
  usages: KeyUsage[],
): Promise<string> {
  const pair = await crypto.subtle.generateKey(
    algorithm,
    true,
    usages,
  ) as CryptoKeyPair;
  const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
  return encodePem("PUBLIC KEY", new Uint8Array(spki));
}

async function assertRejected(
  text: string,
  reason: PublicKeyRejection,
  messagePart: RegExp,
): Promise<void> {
  await assert.rejects(parsePublicKey(text), (error: unknown) => {
    assert.ok(error instanceof PublicKeyError);
    assert.equal(error.name, "PublicKeyError");
    assert.equal(error.reason, reason);
    assert.match(error.message, messagePart);
    return true;
  });
}

Deno.test("keys: an RSA 2048 SPKI key is accepted with its size and DER fingerprint", async () => {
  const { publicKeyPem } = await generateUserKeyPair("RSA", {
    modulusBits: 2048,
  });
  const parsed = await parsePublicKey(publicKeyPem);
  assert.equal(parsed.algorithm, "RSA");
  assert.equal(parsed.modulusBits, 2048);
  assert.equal(parsed.pem, publicKeyPem);
  const der = Uint8Array.from(
    atob(publicKeyPem.replace(/-----[A-Z ]+-----|\s/g, "")),
    (c) => c.charCodeAt(0),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  assert.equal(parsed.fingerprint, bytesToBase64url(digest));
  assert.equal(parsed.fingerprint.length, 43);
});

Deno.test("keys: an Ed25519 SPKI key is accepted without a modulus size", async () => {
  const { publicKeyPem } = await generateUserKeyPair("Ed25519");
  const parsed = await parsePublicKey(publicKeyPem);
  assert.equal(parsed.algorithm, "Ed25519");
  assert.equal(parsed.modulusBits, undefined);
  assert.equal("modulusBits" in parsed, false);
});

Deno.test("keys: CRLF, indentation and surrounding text normalise to the same PEM and fingerprint", async () => {
  const { publicKeyPem } = await generateUserKeyPair("Ed25519");
  const messy = "\r\n  " +
    publicKeyPem.split("\n").map((line) => `   ${line}`).join("\r\n") +
    "\r\n";
  const clean = await parsePublicKey(publicKeyPem);
  const normalised = await parsePublicKey(messy);
  assert.deepEqual(normalised, clean);
});

Deno.test("keys: an RSA key shorter than 2048 bits is refused as too short", async () => {
  const pem = await spkiPem({
    name: "RSA-OAEP",
    modulusLength: 1024,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  }, ["encrypt", "decrypt"]);
  await assertRejected(pem, "rsa_too_short", /1024 bits is too short/);
});

Deno.test("keys: EC P-256 is refused and named in the message", async () => {
  const pem = await spkiPem({ name: "ECDSA", namedCurve: "P-256" }, [
    "sign",
    "verify",
  ]);
  await assertRejected(
    pem,
    "unsupported_algorithm",
    /^EC P-256 keys are not supported; use an RSA key/,
  );
});

Deno.test("keys: X25519 is refused as an unsupported algorithm", async () => {
  const pem = await spkiPem({ name: "X25519" }, ["deriveBits"]);
  await assertRejected(pem, "unsupported_algorithm", /^X25519 keys/);
});

Deno.test("keys: a PKCS#8 private key pasted by mistake is refused as a private key", async () => {
  const { privateKeyPem } = await generateUserKeyPair("Ed25519");
  await assertRejected(privateKeyPem, "private_key", /This is a private key/);
  await assertRejected(
    privateKeyPem.replace("-----BEGIN PRIVATE KEY-----", "").trim().replace(
      "-----END PRIVATE KEY-----",
      "",
    ).replace(/^/, "-----BEGIN PUBLIC KEY-----\n") +
      "-----END PUBLIC KEY-----\n",
    "private_key",
    /private key under a PUBLIC KEY label/,
  );
});

Deno.test("keys: a key pair pasted together is refused as containing a private key", async () => {
  const { privateKeyPem, publicKeyPem } = await generateUserKeyPair("Ed25519");
  await assertRejected(
    publicKeyPem + privateKeyPem,
    "private_key",
    /private key/,
  );
  await assertRejected(
    "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    "private_key",
    /private key/,
  );
  await assertRejected(
    "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----",
    "private_key",
    /private key/,
  );
});

Deno.test("keys: two public keys in one paste are refused", async () => {
  const { publicKeyPem } = await generateUserKeyPair("Ed25519");
  await assertRejected(
    publicKeyPem + publicKeyPem,
    "multiple_blocks",
    /2 PEM blocks/,
  );
});

Deno.test("keys: garbage, bad base64 and a non-SPKI body are refused with reasons", async () => {
  await assertRejected("hello", "not_pem", /not PEM/);
  await assertRejected("", "not_pem", /not PEM/);
  await assertRejected(
    "-----BEGIN PUBLIC KEY-----\n!!!notbase64\n-----END PUBLIC KEY-----",
    "malformed",
    /not valid base64/,
  );
  await assertRejected(
    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
    "malformed",
    /not an SPKI public key/,
  );
  await assertRejected("x".repeat(20_000), "malformed", /longer than/);
});

Deno.test("keys: a recognisable key that does not import is refused as malformed", async () => {
  // Ed25519 SPKI layout with a 31-byte key where 32 bytes belong.
  const der = new Uint8Array([
    0x30,
    0x29,
    ...[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
    ...[0x03, 0x20, 0x00],
    ...new Uint8Array(31).fill(7),
  ]);
  await assertRejected(
    encodePem("PUBLIC KEY", der),
    "malformed",
    /^Public key does not import/,
  );
});

Deno.test("keys: OpenSSH, PKCS#1 and certificate formats are refused with a conversion hint", async () => {
  await assertRejected(
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG alice@host",
    "unsupported_format",
    /ssh-keygen -e -m PKCS8/,
  );
  await assertRejected(
    "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----",
    "unsupported_format",
    /-RSAPublicKey_in/,
  );
  await assertRejected(
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
    "unsupported_format",
    /"CERTIFICATE" is not a public key/,
  );
});

Deno.test("keys: generateUserKeyPair refuses an RSA size below 2048 bits", async () => {
  await assert.rejects(
    generateUserKeyPair("RSA", { modulusBits: 1024 }),
    RangeError,
  );
});
