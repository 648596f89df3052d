import assert from "node:assert/strict";
import { generateUserKeyPair, PublicKeyError } from "../../identity/keys.ts";
import {
  decoyEncryption,
  decryptWithPrivateKey,
  encryptForUser,
  hashToken,
  LoginTokenError,
  newSessionToken,
  SESSION_TOKEN_BYTES,
  tokenToBearer,
} from "../../identity/login_token.ts";

const alice = await generateUserKeyPair("RSA", { modulusBits: 2048 });

Deno.test("login token: a token encrypted to the user's key decrypts with their private key", async () => {
  const token = newSessionToken();
  assert.equal(token.length, SESSION_TOKEN_BYTES);
  const answer = await encryptForUser(alice.publicKeyPem, token);
  assert.match(answer, /^[A-Za-z0-9+/]+=*$/);
  assert.equal(atob(answer).length, 256);
  assert.deepEqual(
    await decryptWithPrivateKey(alice.privateKeyPem, answer),
    token,
  );
});

Deno.test("login token: encrypting twice gives different ciphertexts (OAEP is randomised)", async () => {
  const token = newSessionToken();
  const first = await encryptForUser(alice.publicKeyPem, token);
  const second = await encryptForUser(alice.publicKeyPem, token);
  assert.notEqual(first, second);
});

Deno.test("login token: another user's private key cannot read the answer", async () => {
  const mallory = await generateUserKeyPair("RSA", { modulusBits: 2048 });
  const answer = await encryptForUser(alice.publicKeyPem, newSessionToken());
  await assert.rejects(
    decryptWithPrivateKey(mallory.privateKeyPem, answer),
    (error: unknown) =>
      error instanceof LoginTokenError && error.reason === "decrypt_failed",
  );
});

Deno.test("login token: non-base64 answers and non-RSA private keys are typed errors", async () => {
  await assert.rejects(
    decryptWithPrivateKey(alice.privateKeyPem, "not base64!"),
    (error: unknown) =>
      error instanceof LoginTokenError &&
      error.reason === "malformed_ciphertext",
  );
  const ed = await generateUserKeyPair("Ed25519");
  await assert.rejects(
    decryptWithPrivateKey(ed.privateKeyPem, "AAAA"),
    (error: unknown) =>
      error instanceof LoginTokenError &&
      error.reason === "not_rsa_private_key",
  );
  await assert.rejects(
    decryptWithPrivateKey(alice.publicKeyPem, "AAAA"),
    (error: unknown) =>
      error instanceof LoginTokenError &&
      error.reason === "not_rsa_private_key",
  );
});

Deno.test("login token: an Ed25519 key cannot receive a login token", async () => {
  const ed = await generateUserKeyPair("Ed25519");
  await assert.rejects(
    encryptForUser(ed.publicKeyPem, newSessionToken()),
    (error: unknown) =>
      error instanceof PublicKeyError &&
      error.reason === "unsupported_algorithm" &&
      /register an RSA key/.test(error.message),
  );
});

Deno.test("login token: the decoy answer has the shape of a real answer for the same key size", async () => {
  const real = await encryptForUser(alice.publicKeyPem, newSessionToken());
  const decoy = await decoyEncryption();
  assert.equal(decoy.length, real.length);
  assert.match(decoy, /^[A-Za-z0-9+/]+=*$/);
  assert.notEqual(await decoyEncryption(), decoy);
  const bigger = await decoyEncryption({ modulusBits: 3072 });
  assert.equal(atob(bigger).length, 384);
});

Deno.test("login token: the bearer is unpadded base64url of the 32 bytes", () => {
  const token = new Uint8Array(32).fill(0xfb);
  const bearer = tokenToBearer(token);
  assert.equal(bearer.length, 43);
  assert.match(bearer, /^[A-Za-z0-9_-]{43}$/);
  // 0xfbfbfb is 111110 111111 101111 111011 in sextets: "-_v7".
  assert.equal(bearer, "-_v7".repeat(10) + "-_s");
});

Deno.test("login token: hashToken is SHA-256 hex of the bearer text", async () => {
  assert.equal(
    await hashToken("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const bearer = tokenToBearer(newSessionToken());
  assert.equal(await hashToken(bearer), await hashToken(bearer));
  assert.notEqual(
    await hashToken(bearer),
    await hashToken(tokenToBearer(newSessionToken())),
  );
});
