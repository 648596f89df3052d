/**
 * What the command line prints for people (banners, generated material),
 * apart from the JSON log on stderr.
 *
 * @module
 */

const encoder = new TextEncoder();

/** Writes `text` and a newline to stdout. */
export function say(text: string): void {
  Deno.stdout.writeSync(encoder.encode(text + "\n"));
}

/** Writes `text` and a newline to stderr (for errors a person must read). */
export function complain(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text + "\n"));
}
