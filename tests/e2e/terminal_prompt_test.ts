import assert from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { request, tempDir } from "./harness.ts";
import { openTerminal, type Terminal } from "../support/terminal.ts";

const MOD = fromFileUrl(new URL("../../mod.ts", import.meta.url));
const PASSPHRASE = "terminal typed passphrase";

/** `mod.ts start` on a terminal, with no passphrase in the environment. */
function startOnTerminal(dataDir: string): Terminal {
  return openTerminal(Deno.execPath(), [
    "run",
    "--allow-all",
    MOD,
    "start",
    "--insecure-http",
    "--listen",
    "127.0.0.1:0",
    "--data-dir",
    dataDir,
    "--log-level",
    "error",
  ], {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/root",
    NO_COLOR: "1",
  });
}

async function readyz(terminal: Terminal, from: number): Promise<number> {
  const [, url] = await terminal.waitFor(
    /Miranda listening on (http:\/\/\S+)/,
    { from },
  );
  return (await request(`${url}/readyz`)).status;
}

/** Ctrl-C at the terminal: SIGINT, a graceful stop. */
async function interrupt(terminal: Terminal): Promise<Deno.CommandStatus> {
  await terminal.type("\x03");
  return await terminal.status;
}

Deno.test("start on a terminal: a new passphrase is asked twice (again when the repeat differs), never echoed, and unseals without a third question; a restart asks once, again after a wrong one, three times at most", async () => {
  const dir = await tempDir();
  try {
    const dataDir = `${dir}/data`;
    {
      await using first = startOnTerminal(dataDir);
      await first.waitFor(/New Miranda passphrase: /);
      await first.type(`${PASSPHRASE}\r`);
      await first.waitFor(/Repeat the new Miranda passphrase: /);
      await first.type("a different repeat\r");
      const retry = await first.waitFor(/The two entries differ; try again\./);
      const after = retry.index + retry[0].length;
      await first.waitFor(/New Miranda passphrase: /, { from: after });
      await first.type(`${PASSPHRASE}\r`);
      await first.waitFor(/Repeat the new Miranda passphrase: /, {
        from: after,
      });
      await first.type(`${PASSPHRASE}\r`);
      assert.equal(await readyz(first, after), 200, first.output());
      const shown = first.output();
      assert.doesNotMatch(shown, /(^|\n)Miranda passphrase: /);
      assert.doesNotMatch(shown, /WARNING: no passphrase was given/);
      assert.ok(!shown.includes(PASSPHRASE), "the passphrase was echoed");
      assert.ok(!shown.includes("a different repeat"));
      assert.equal((await interrupt(first)).code, 0, first.output());
    }
    {
      await using again = startOnTerminal(dataDir);
      await again.waitFor(/(^|\n)Miranda passphrase: /);
      await again.type(`${PASSPHRASE}\r`);
      assert.equal(await readyz(again, 0), 200, again.output());
      assert.doesNotMatch(again.output(), /New Miranda passphrase/);
      assert.ok(!again.output().includes(PASSPHRASE));
      assert.equal((await interrupt(again)).code, 0, again.output());
    }
    {
      await using mistyped = startOnTerminal(dataDir);
      await mistyped.waitFor(/(^|\n)Miranda passphrase: /);
      await mistyped.type("not the passphrase\r");
      const again = await mistyped.waitFor(
        /does not unlock this node's keys; try again\.\s+Miranda passphrase: /,
      );
      await mistyped.type(`${PASSPHRASE}\r`);
      assert.equal(
        await readyz(mistyped, again.index + again[0].length),
        200,
        mistyped.output(),
      );
      assert.ok(!mistyped.output().includes("not the passphrase"));
      assert.equal((await interrupt(mistyped)).code, 0, mistyped.output());
    }
    {
      await using wrong = startOnTerminal(dataDir);
      let from = 0;
      for (let attempt = 1; attempt <= 3; attempt++) {
        const asked = await wrong.waitFor(/(^|\n)Miranda passphrase: /, {
          from,
        });
        from += asked.index + asked[0].length;
        await wrong.type(`wrong ${attempt}\r`);
      }
      const status = await wrong.status;
      assert.equal(status.code, 1, wrong.output());
      assert.equal(wrong.output().match(/try again/g)?.length, 2);
      assert.match(wrong.output(), /miranda: The passphrase does not unlock/);
      assert.doesNotMatch(wrong.output(), /Miranda listening on/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start on a terminal: Enter at the new passphrase generates one, with a warning that says why", async () => {
  const dir = await tempDir();
  try {
    await using terminal = startOnTerminal(`${dir}/data`);
    await terminal.waitFor(/New Miranda passphrase: /);
    await terminal.type("\r");
    assert.equal(await readyz(terminal, 0), 200, terminal.output());
    const shown = terminal.output();
    assert.match(
      shown,
      /WARNING: no passphrase was given, so a passphrase was generated/,
    );
    const stored = await Deno.readTextFile(
      `${dir}/data/GENERATED-PASSPHRASE-NOT-FOR-PRODUCTION`,
    );
    assert.ok(stored.trim().length >= 43);
    assert.equal((await interrupt(terminal)).code, 0, terminal.output());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start on a terminal: three differing repeats of the new passphrase stop it, with nothing initialised", async () => {
  const dir = await tempDir();
  try {
    await using terminal = startOnTerminal(`${dir}/data`);
    let from = 0;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const asked = await terminal.waitFor(/New Miranda passphrase: /, {
        from,
      });
      from += asked.index + asked[0].length;
      await terminal.type(`first ${attempt}\r`);
      const repeat = await terminal.waitFor(
        /Repeat the new Miranda passphrase: /,
        { from },
      );
      from += repeat.index + repeat[0].length;
      await terminal.type(`second ${attempt}\r`);
    }
    const status = await terminal.status;
    assert.notEqual(status.code, 0, terminal.output());
    assert.match(terminal.output(), /differed 3 times; nothing was changed/);
    assert.doesNotMatch(terminal.output(), /Initialising the data directory/);
    await assert.rejects(Deno.stat(`${dir}/data/keyring.json`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
