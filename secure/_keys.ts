/**
 * The four keys both native handshakes derive, laid out by role (private helper).
 *
 * @module
 */

/** Keys for one side: its own confirmation and sending keys, and the peer's. */
export interface DirectionalKeys {
  /** The agreed role. */
  role: "A" | "B";
  /** The transcript hash. */
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
