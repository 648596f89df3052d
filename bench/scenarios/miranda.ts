/**
 * Miranda's figures (filled in below).
 *
 * @module
 */

import type { Scenario } from "../figures.ts";

/** The Miranda scenarios, in the order they run. */
export const MIRANDA_SCENARIOS: Scenario[] = [];
