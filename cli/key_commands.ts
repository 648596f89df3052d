/**
 * `miranda rekey` (change the passphrase: the root key is re-wrapped, no
 * data is re-encrypted) and `miranda rotate-data-key` (a new data key for
 * new writes; old ones kept for reading; records under old keys are
 * re-encrypted in the background — here in the foreground, and by a running
 * node whenever it is unsealed, so an interrupted job resumes by itself).
 * Run both while the node is stopped: a running node keeps the keyfile it
 * read at start.
 *
 * @module
 */

import type { Config } from "../config/keys.ts";
import {
  readKeyfile,
  rekey,
  rotateDataKey,
  unlockWithPassphrase,
  writeKeyfile,
} from "../security/keyfile.ts";
import { resolvePassphrase } from "../security/passphrase.ts";
import { dataDirLayout, isInitialised } from "../node/data_dir.ts";
import { reencryptAll } from "../store/reencrypt.ts";
import { openSqliteStore } from "../store/sqlite/store.ts";
import { complain, say } from "./output.ts";
import { findPassphrase, promptNewPassphrase } from "./passphrase.ts";

/** Runs `miranda rekey`; the new passphrase from `--new-passphrase-file`, `MIRANDA_NEW_PASSPHRASE` or the terminal. */
export async function rekeyCommand(
  config: Config,
  options: { newPassphraseFile: string | undefined },
): Promise<number> {
  const newFile = options.newPassphraseFile;
  const layout = dataDirLayout(config.dataDir);
  if (!(await isInitialised(config.dataDir))) {
    return fail(`The data directory "${config.dataDir}" is not initialised`);
  }
  const current = await findPassphrase({
    passphraseFile: config.passphraseFile,
    prompt: true,
  });
  if (!current) {
    return fail(
      "No current passphrase: give --passphrase-file, MIRANDA_PASSPHRASE or run on a terminal",
    );
  }
  const env = Deno.env.toObject();
  const fresh = newFile !== undefined
    ? await resolvePassphrase({
      passphraseFile: newFile,
      env: {},
      prompt: null,
    })
    : env["MIRANDA_NEW_PASSPHRASE"]
    ? { passphrase: env["MIRANDA_NEW_PASSPHRASE"] }
    : null;
  const newPassphrase = fresh?.passphrase ??
    await promptNewPassphrase("Miranda passphrase");
  if (!newPassphrase) {
    return fail(
      "No new passphrase: give --new-passphrase-file, MIRANDA_NEW_PASSPHRASE or run on a terminal",
    );
  }
  const keyfile = await readKeyfile(layout.keyfile);
  const updated = await rekey(keyfile, {
    current: current.passphrase,
    newPassphrase,
  });
  await writeKeyfile(layout.keyfile, updated);
  say("The passphrase is changed. The unseal shares stay valid.");
  return 0;
}

/** Runs `miranda rotate-data-key [--resume]`: `--resume` only finishes an interrupted re-encryption. */
export async function rotateDataKeyCommand(
  config: Config,
  options: { resume: boolean },
): Promise<number> {
  const { resume } = options;
  const layout = dataDirLayout(config.dataDir);
  if (!(await isInitialised(config.dataDir))) {
    return fail(`The data directory "${config.dataDir}" is not initialised`);
  }
  const found = await findPassphrase({
    passphraseFile: config.passphraseFile,
    prompt: true,
  });
  if (!found) {
    return fail(
      "No passphrase: give --passphrase-file, MIRANDA_PASSPHRASE or run on a terminal",
    );
  }
  let keyfile = await readKeyfile(layout.keyfile);
  let keyring = await unlockWithPassphrase(keyfile, found.passphrase);
  if (!resume) {
    ({ keyfile, keyring } = await rotateDataKey(keyfile, keyring));
    await writeKeyfile(layout.keyfile, keyfile);
    say(`New data key ${keyring.activeKeyId} is active for new writes.`);
  }
  await using store = openSqliteStore(layout.database, () => keyring);
  const report = await reencryptAll(store.reencryption, () => keyring, {
    onBatch: (r) => say(`  re-encrypted ${r.reencrypted} records so far`),
  });
  say(
    `Re-encryption done: ${report.reencrypted} records now under data key ${keyring.activeKeyId}.`,
  );
  keyring.wipe();
  return 0;
}

function fail(message: string): number {
  complain(`miranda: ${message}`);
  return 2;
}
