/**
 * Ed25519 identities for the mediator: make one, save it to a key file, load it, and show the
 * public key in its short copyable text form (`pk1…`, see `protocol/mediator.ts`).
 *
 * A key file is the private key as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, readable by
 * OpenSSL), preceded by comment lines that name the public key. {@linkcode saveIdentity}
 * creates it with mode 0600 (owner read and write only) and writes the public key's text form
 * next to it in `<file>.pub`.
 *
 * @module
 */

import {
  formatPublicKeyText,
  MEDIATOR_KEY_BYTES,
  parsePublicKeyText,
} from "../protocol/mediator.ts";
import { generateIdentityKeyPair, type IdentityKeyPair } from "../secure/identity_handshake.ts";

export { formatPublicKeyText, parsePublicKeyText };

/** An Ed25519 identity: what `connect()` and the mediator need. */
export interface Identity extends IdentityKeyPair {
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** The private key (WebCrypto, usage `sign`). */
  readonly privateKey: CryptoKey;
  /** The public key's text form, `pk1…`. */
  readonly text: string;
  /** The private key as PKCS#8 DER, or `null` when it cannot be exported. */
  readonly pkcs8: Uint8Array | null;
}

/** A key file is missing, unreadable or not an Ed25519 private key. */
export class IdentityFileError extends Error {
  /** The file. */
  readonly path: string;
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { IdentityFileError } from "./identity.ts";
   * const error = new IdentityFileError("id.key", "No key in it");
   * if (error.name !== "IdentityFileError" || !error.message.includes("id.key")) throw new Error(error.message);
   * ```
   */
  constructor(path: string, why: string, options?: ErrorOptions) {
    super(`Key file ${path}: ${why}`, options);
    this.name = "IdentityFileError";
    this.path = path;
  }
}

async function fromPkcs8(der: Uint8Array): Promise<Identity> {
  // Import once extractable to read the public half (JWK "x"), then keep a private key that
  // can sign but never be exported again.
  const full = await crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array(der),
    { name: "Ed25519" },
    true,
    ["sign"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", full);
  if (jwk.x === undefined) throw new TypeError("Ed25519 key has no public part");
  const publicKey = Uint8Array.fromBase64(jwk.x, { alphabet: "base64url" });
  const privateKey = await crypto.subtle.importKey(
    "pkcs8",
    new Uint8Array(der),
    { name: "Ed25519" },
    false,
    [
      "sign",
    ],
  );
  return { publicKey, privateKey, text: formatPublicKeyText(publicKey), pkcs8: der.slice() };
}

/**
 * Make a new identity (WebCrypto Ed25519).
 *
 * @example
 * ```ts
 * import { generateIdentity } from "./identity.ts";
 * const id = await generateIdentity();
 * if (id.publicKey.length !== 32 || !id.text.startsWith("pk1")) throw new Error("Bad identity");
 * ```
 */
export async function generateIdentity(): Promise<Identity> {
  const pair = await generateIdentityKeyPair();
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  return await fromPkcs8(der);
}

/**
 * The text of a key file for `identity`: comment lines naming the public key, then the private
 * key as PKCS#8 PEM.
 *
 * @throws {TypeError} when the identity's private key cannot be exported.
 *
 * @example
 * ```ts
 * import { formatIdentityFile, generateIdentity, parseIdentityFile } from "./identity.ts";
 * const id = await generateIdentity();
 * const again = await parseIdentityFile(formatIdentityFile(id));
 * if (again.text !== id.text) throw new Error("No round trip");
 * ```
 */
export function formatIdentityFile(identity: Identity): string {
  if (identity.pkcs8 === null) throw new TypeError("This identity's private key cannot be saved");
  const body = identity.pkcs8.toBase64().match(/.{1,64}/g)!.join("\n");
  return `# peerlink identity (Ed25519). Keep this file secret: it is your private key.
# Public key: ${identity.text}
-----BEGIN PRIVATE KEY-----
${body}
-----END PRIVATE KEY-----
`;
}

/**
 * Read an identity from a key file's text (comments and other text around the PEM block are
 * ignored).
 *
 * @throws {TypeError} when the text holds no Ed25519 PKCS#8 private key.
 *
 * @example
 * ```ts
 * import { parseIdentityFile } from "./identity.ts";
 * const error = await parseIdentityFile("not a key").catch((e) => e);
 * if (!(error instanceof TypeError)) throw new Error("Garbage accepted");
 * ```
 */
export async function parseIdentityFile(text: string): Promise<Identity> {
  const match = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(
    text,
  );
  if (match === null) {
    throw new TypeError("No '-----BEGIN PRIVATE KEY-----' block (make one with client.ts keygen)");
  }
  let der: Uint8Array;
  try {
    der = Uint8Array.fromBase64(match[1]!.replace(/\s+/g, ""));
  } catch (cause) {
    throw new TypeError("The private key block is not base64", { cause });
  }
  try {
    return await fromPkcs8(der);
  } catch (cause) {
    throw new TypeError("The private key is not an Ed25519 key", { cause });
  }
}

/** Options for {@linkcode saveIdentity}. */
export interface SaveIdentityOptions {
  /** Replace an existing file. @default {false} */
  overwrite?: boolean;
}

/**
 * Write `identity` to `path` with mode 0600, and its public key's text form to `<path>.pub`.
 *
 * @throws {IdentityFileError} when the file exists (without `overwrite`) or cannot be written.
 *
 * @example
 * ```ts
 * import { generateIdentity, loadIdentity, saveIdentity } from "./identity.ts";
 * const dir = await Deno.makeTempDir();
 * const id = await generateIdentity();
 * await saveIdentity(`${dir}/id.key`, id);
 * if ((await Deno.stat(`${dir}/id.key`)).mode! & 0o077) throw new Error("Readable by others");
 * if ((await loadIdentity(`${dir}/id.key`)).text !== id.text) throw new Error("No round trip");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveIdentity(
  path: string,
  identity: Identity,
  options: SaveIdentityOptions = {},
): Promise<void> {
  const text = formatIdentityFile(identity);
  try {
    await Deno.writeTextFile(path, text, {
      mode: 0o600,
      createNew: options.overwrite !== true,
    });
    // `mode` applies only to new files: an overwritten file keeps its old mode otherwise.
    if (Deno.build.os !== "windows") await Deno.chmod(path, 0o600);
    await Deno.writeTextFile(`${path}.pub`, identity.text + "\n");
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      throw new IdentityFileError(path, "already exists (pass --force to replace it)", {
        cause: error,
      });
    }
    throw new IdentityFileError(path, (error as Error).message, { cause: error });
  }
}

/**
 * Read the identity in the key file `path`.
 *
 * @throws {IdentityFileError} when the file is missing, unreadable or holds no Ed25519 key.
 *
 * @example
 * ```ts
 * import { IdentityFileError, loadIdentity } from "./identity.ts";
 * const error = await loadIdentity("/nonexistent/peerlink.key").catch((e) => e);
 * if (!(error instanceof IdentityFileError)) throw new Error("Expected IdentityFileError");
 * ```
 */
export async function loadIdentity(path: string): Promise<Identity> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "not found (make one with: client.ts keygen --out FILE)"
      : (error as Error).message;
    throw new IdentityFileError(path, why, { cause: error });
  }
  try {
    return await parseIdentityFile(text);
  } catch (error) {
    throw new IdentityFileError(path, (error as Error).message, { cause: error });
  }
}

/**
 * A public key from its text form (`pk1…`) or as raw bytes, checked.
 *
 * @throws {TypeError} when it is neither a valid text form nor 32 bytes.
 *
 * @example
 * ```ts
 * import { formatPublicKeyText, toPublicKey } from "./identity.ts";
 * const key = new Uint8Array(32).fill(3);
 * if (toPublicKey(formatPublicKeyText(key)).toHex() !== key.toHex()) throw new Error("Bad key");
 * ```
 */
export function toPublicKey(key: string | Uint8Array): Uint8Array {
  if (typeof key !== "string") {
    if (key.length !== MEDIATOR_KEY_BYTES) {
      throw new TypeError(`A public key is ${MEDIATOR_KEY_BYTES} bytes, got ${key.length}`);
    }
    return key.slice();
  }
  const parsed = parsePublicKeyText(key);
  if (parsed === null) {
    throw new TypeError(
      `"${key}" is not a peerlink public key: it starts with pk1 and has 58 characters; ` +
        "check for a typo (copy it from the other side's keygen or pair output)",
    );
  }
  return parsed;
}
