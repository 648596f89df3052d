/**
 * The marker scan: after a test stores known marker strings, every file in
 * the data directory (database, WAL, key material, certificates) is read and
 * searched for each marker in plaintext (UTF-8 and UTF-16LE).
 *
 * @module
 */

/** Makes a marker string unlikely to occur by chance. */
export function marker(label: string): string {
  return `MIRANDA-MARKER-${label}-${crypto.randomUUID()}`;
}

/** Returns `path: marker` for every marker found in plaintext under `dir`. */
export async function scanForMarkers(
  dir: string,
  markers: readonly string[],
): Promise<string[]> {
  const found: string[] = [];
  const needles = markers.flatMap((m) => [
    { marker: m, bytes: new TextEncoder().encode(m) },
    { marker: m, bytes: utf16le(m) },
  ]);
  for await (const path of walk(dir)) {
    const data = await Deno.readFile(path);
    for (const needle of needles) {
      if (indexOf(data, needle.bytes) !== -1) {
        found.push(`${path}: ${needle.marker}`);
      }
    }
  }
  return found;
}

/** Counts the files the scan reads, so a test can show the scan saw the store. */
export async function listFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const path of walk(dir)) files.push(path);
  return files;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* walk(path);
    else if (entry.isFile) yield path;
  }
}

function utf16le(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    out[i * 2] = code & 0xff;
    out[i * 2 + 1] = code >> 8;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  outer: for (
    let i = haystack.indexOf(first!);
    i !== -1 && i <= haystack.length - needle.length;
    i = haystack.indexOf(first!, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}
