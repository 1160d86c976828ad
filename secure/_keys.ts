/**
 * The transcript and the four keys both native handshakes derive, laid out by role (private
 * helper).
 *
 * @module
 */

import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { compareBytes, concatBytes, u32be } from "../bytes/mod.ts";

const encoder = new TextEncoder();

/** Keys for one side: its own confirmation and sending keys, and the peer's. */
export interface DirectionalKeys {
  /** The agreed role. */
  role: "A" | "B";
  /** The transcript hash `T`. */
  transcript: Uint8Array;
  /** HMAC key for our confirmation. */
  confirmOwn: Uint8Array;
  /** HMAC key for the peer's confirmation. */
  confirmPeer: Uint8Array;
  /** Key for the data we send. */
  send: Uint8Array;
  /** Key for the data we receive. */
  receive: Uint8Array;
}

/**
 * Derive `confirm A`, `confirm B`, `data A to B` and `data B to A` with `derive` and hand them
 * out by `role`: A sends with `data A to B`, B with `data B to A`.
 *
 * @example
 * ```ts
 * import { directionalKeys } from "./_keys.ts";
 * const derive = (name: string) => new TextEncoder().encode(name);
 * const a = directionalKeys(derive, "A", new Uint8Array());
 * const b = directionalKeys(derive, "B", new Uint8Array());
 * if (new TextDecoder().decode(a.send) !== new TextDecoder().decode(b.receive)) throw new Error("Mismatch");
 * ```
 */
export function directionalKeys(
  derive: (name: string) => Uint8Array,
  role: "A" | "B",
  transcript: Uint8Array,
): DirectionalKeys {
  const confirmA = derive("confirm A");
  const confirmB = derive("confirm B");
  const dataAB = derive("data A to B");
  const dataBA = derive("data B to A");
  return role === "A"
    ? {
      role,
      transcript,
      confirmOwn: confirmA,
      confirmPeer: confirmB,
      send: dataAB,
      receive: dataBA,
    }
    : {
      role,
      transcript,
      confirmOwn: confirmB,
      confirmPeer: confirmA,
      send: dataBA,
      receive: dataAB,
    };
}

/**
 * The keys of a native handshake named `protocol` (`"peerlink/1"`, `"peerlink/identity/1"`):
 * the side whose hello sorts first is A; `T = SHA-256(protocol " transcript" ‖ u32(len(context))
 * ‖ context ‖ hello_A ‖ hello_B)`; each key is `HKDF-SHA-256(salt T, ikm secret, info protocol
 * " " name)`. Returns `null` when the peer's hello equals ours (an echo: the caller refuses it).
 *
 * @example
 * ```ts
 * import { transcriptKeys } from "./_keys.ts";
 * const [h1, h2, s] = [new Uint8Array([1]), new Uint8Array([2]), new Uint8Array(32)];
 * const a = transcriptKeys("peerlink/1", h1, h2, s, new Uint8Array(0))!;
 * const b = transcriptKeys("peerlink/1", h2, h1, s, new Uint8Array(0))!;
 * if (a.role !== "A" || a.send.toHex() !== b.receive.toHex()) throw new Error("Mismatch");
 * if (transcriptKeys("peerlink/1", h1, h1, s, new Uint8Array(0)) !== null) throw new Error("Echo");
 * ```
 */
export function transcriptKeys(
  protocol: string,
  ownHello: Uint8Array,
  peerHello: Uint8Array,
  secret: Uint8Array,
  context: Uint8Array,
): DirectionalKeys | null {
  const order = compareBytes(ownHello, peerHello);
  if (order === 0) return null;
  const role = order < 0 ? "A" : "B";
  const [helloA, helloB] = role === "A" ? [ownHello, peerHello] : [peerHello, ownHello];
  const transcript = sha256(concatBytes([
    encoder.encode(`${protocol} transcript`),
    u32be(context.length),
    context,
    helloA,
    helloB,
  ]));
  const derive = (name: string): Uint8Array =>
    hkdf(sha256, secret, transcript, encoder.encode(`${protocol} ${name}`), 32);
  return directionalKeys(derive, role, transcript);
}
