/**
 * The seal routes' view of the node's vault: every seal and unseal is
 * audited, a seal also drops what other parts keep decrypted (token signing
 * keys, signing secrets, couriers' read-ahead), and an unseal resumes the
 * work that needs keys.
 *
 * @module
 */

import type { SealCaller, SealControl } from "../http/routes/seal.ts";
import { forgetSigningKeys } from "../delivery/signature.ts";
import { recordAudit } from "../store/audit.ts";
import type { Store } from "../store/mod.ts";
import type { SecretCache } from "./secret_cache.ts";
import type { TokenKeys } from "./token_keys.ts";
import type { Vault } from "./vault.ts";

/** The seal routes' view of the vault: audited, and secrets cached elsewhere dropped on seal. */
export function sealControl(
  vault: Vault,
  store: Store,
  hooks: {
    tokenKeys: TokenKeys;
    secretCache: SecretCache;
    afterUnseal: () => void;
    /** Drop plaintext held elsewhere (couriers' read-ahead). */
    onSeal: () => void;
  },
): SealControl {
  const audit = (
    action: string,
    caller: SealCaller,
    result: "ok" | "failed",
    detail: Record<string, unknown>,
  ) =>
    recordAudit(store.audit, {
      actor: caller.actor,
      action,
      resource: "node",
      requestId: caller.requestId,
      result,
      detail: { address: caller.address, ...detail },
    });
  const unsealed = async (
    method: "passphrase" | "share",
    caller: SealCaller,
    outcome: Awaited<ReturnType<SealControl["addShare"]>>,
  ) => {
    if (outcome.ok && !outcome.state.sealed) hooks.afterUnseal();
    await audit("unseal", caller, outcome.ok ? "ok" : "failed", {
      method,
      sealed: outcome.ok ? outcome.state.sealed : true,
    });
    return outcome;
  };
  return {
    state: () => vault.state(),
    seal(caller) {
      vault.seal(
        `${caller.actor} (request ${caller.requestId} from ${caller.address})`,
      );
      hooks.tokenKeys.wipe();
      hooks.secretCache.clear();
      forgetSigningKeys();
      hooks.onSeal();
      void audit("seal", caller, "ok", {});
    },
    unsealWithPassphrase: async (passphrase, caller) =>
      await unsealed(
        "passphrase",
        caller,
        await vault.unsealWithPassphrase(passphrase),
      ),
    addShare: async (share, caller) =>
      await unsealed("share", caller, await vault.addShare(share)),
  };
}
