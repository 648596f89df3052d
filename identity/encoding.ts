/**
 * Byte encodings shared by the identity modules: base64, base64url, hex and
 * PEM armour.
 *
 * @module
 */

/** Standard base64 (with padding) of `bytes`. */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** Bytes of standard base64 `text`, or null when it is not valid base64. */
export function base64ToBytes(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    return null;
  }
  const binary = atob(text);
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** Unpadded base64url of `bytes` (RFC 4648 §5). */
export function bytesToBase64url(bytes: Uint8Array): string {
  return bytesToBase64(bytes).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** Lower-case hex of `bytes`. */
export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}

/** One `-----BEGIN …-----` block; `der` is null when its body is not base64. */
export interface PemBlock {
  /** The label between `BEGIN` and the dashes, e.g. `"PUBLIC KEY"`. */
  label: string;
  /** Decoded body. */
  der: Uint8Array | null;
}

const PEM_BLOCK =
  /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Every PEM block in `text`, in order; tolerant of CRLF and indentation. */
export function decodePem(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(PEM_BLOCK)) {
    const [, label = "", body = "", endLabel] = match;
    // Headers such as "Proc-Type:" belong to legacy encrypted PEM: not base64.
    const der = endLabel === label && !body.includes(":")
      ? base64ToBytes(body.replace(/\s+/g, ""))
      : null;
    blocks.push({ label, der });
  }
  return blocks;
}

/** PEM armour of `der` under `label`, 64 characters a line, final newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const lines = bytesToBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}
