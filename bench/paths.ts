/**
 * Path helpers shared by the bench modules.
 *
 * @module
 */

export { fileURLToPath as fromFileUrl } from "node:url";
