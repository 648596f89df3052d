/**
 * Readiness of the node to take events: a set of named checks (store open,
 * actors up, not sealed, not escalated) that `/readyz` reports one by one.
 *
 * @module
 */

/** The outcome of one readiness check; `detail` is shown on `/readyz`. */
export interface CheckResult {
  ok: boolean;
  detail: string;
}

/** Named readiness checks, registered by the subsystems that own them. */
export class Readiness {
  #checks = new Map<string, () => CheckResult>();

  /** Adds or replaces the check called `name`. */
  register(name: string, check: () => CheckResult): void {
    this.#checks.set(name, check);
  }

  /** Runs every check; the node is ready when all pass. */
  report(): { ready: boolean; checks: Record<string, CheckResult> } {
    const checks: Record<string, CheckResult> = {};
    let ready = true;
    for (const [name, check] of this.#checks) {
      const result = check();
      checks[name] = result;
      if (!result.ok) ready = false;
    }
    return { ready, checks };
  }
}
