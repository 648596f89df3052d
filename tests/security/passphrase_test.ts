import assert from "node:assert/strict";
import {
  generatePassphrase,
  PassphraseSourceError,
  resolvePassphrase,
} from "../../security/passphrase.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function failingPrompt(): Promise<string | null> {
  throw new Error("prompt must not be reached");
}

Deno.test("passphrase: --passphrase-file wins over credential, env and prompt", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pass`, "from-file\n");
    await Deno.writeTextFile(`${dir}/miranda-passphrase`, "from-credential");
    assert.deepEqual(
      await resolvePassphrase({
        passphraseFile: `${dir}/pass`,
        env: { MIRANDA_PASSPHRASE: "from-env", CREDENTIALS_DIRECTORY: dir },
        prompt: failingPrompt,
      }),
      { source: "file", passphrase: "from-file" },
    );
  });
});

Deno.test("passphrase: the systemd credential wins over env and prompt", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(
      `${dir}/miranda-passphrase`,
      "from-credential\r\n",
    );
    const env = { MIRANDA_PASSPHRASE: "from-env", CREDENTIALS_DIRECTORY: dir };
    assert.deepEqual(await resolvePassphrase({ env, prompt: failingPrompt }), {
      source: "credential",
      passphrase: "from-credential",
    });
    assert.deepEqual(
      await resolvePassphrase({
        env: { MIRANDA_PASSPHRASE: "from-env" },
        credentialsDir: dir,
        prompt: failingPrompt,
      }),
      { source: "credential", passphrase: "from-credential" },
    );
  });
});

Deno.test("passphrase: a credentials dir without the credential falls through to env", async () => {
  await withDir(async (dir) => {
    assert.deepEqual(
      await resolvePassphrase({
        env: { MIRANDA_PASSPHRASE: "from-env", CREDENTIALS_DIRECTORY: dir },
        prompt: failingPrompt,
      }),
      { source: "env", passphrase: "from-env" },
    );
  });
});

Deno.test("passphrase: the prompt is asked last, and nothing anywhere resolves null", async () => {
  assert.deepEqual(
    await resolvePassphrase({
      env: { MIRANDA_PASSPHRASE: "" },
      prompt: () => Promise.resolve("typed"),
    }),
    { source: "prompt", passphrase: "typed" },
  );
  assert.equal(
    await resolvePassphrase({ env: {}, prompt: () => Promise.resolve(null) }),
    null,
  );
  assert.equal(await resolvePassphrase({ env: {}, prompt: null }), null);
});

Deno.test("passphrase: only one trailing newline is trimmed from files", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pass`, "  spaced pass \n\n");
    assert.deepEqual(
      await resolvePassphrase({ passphraseFile: `${dir}/pass`, env: {} }),
      { source: "file", passphrase: "  spaced pass \n" },
    );
  });
});

Deno.test("passphrase: a missing or empty --passphrase-file is an error, not a fall-through", async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      resolvePassphrase({
        passphraseFile: `${dir}/missing`,
        env: { MIRANDA_PASSPHRASE: "from-env" },
      }),
      (error: unknown) =>
        error instanceof PassphraseSourceError && error.source === "file" &&
        error.path === `${dir}/missing`,
    );
    await Deno.writeTextFile(`${dir}/empty`, "\n");
    await assert.rejects(
      resolvePassphrase({ passphraseFile: `${dir}/empty`, env: {} }),
      PassphraseSourceError,
    );
  });
});

Deno.test("passphrase: generatePassphrase gives 256 random bits, base64url", () => {
  const a = generatePassphrase();
  assert.match(a, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(a, generatePassphrase());
});
