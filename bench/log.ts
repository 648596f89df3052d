/**
 * The bench's one writer to the terminal. The bench is a command-line tool
 * whose output is its product, so it prints rather than logs JSON lines.
 *
 * @module
 */

// deno-lint-ignore-file no-console

/** Prints one line to stdout. */
export function say(line = ""): void {
  console.log(line);
}

/** Prints one line to stderr (progress and warnings). */
export function note(line: string): void {
  console.error(line);
}
