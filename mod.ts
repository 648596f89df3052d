/**
 * Miranda's entry point: `deno run mod.ts <command>`. Wiring only; see
 * `cli/main.ts` for the commands.
 *
 * @module
 */

import { main } from "./cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
