/**
 * Hole punching: TCP simultaneous open ({@linkcode punchTcp}), UDP probes with birthday probing
 * ({@linkcode punchUdp}), the candidate pairs ({@linkcode punchPairs}) and a quick NAT mapping
 * check ({@linkcode detectMapping}).
 *
 * @example
 * ```ts
 * import { punchPairs } from "./mod.ts";
 * const pairs = punchPairs([{ family: "v4", ip: "10.0.0.2", port: 4000 }], {
 *   private: { v4: null, v6: null },
 *   public: { v4: { family: "v4", ip: "198.51.100.2", port: 5000 }, v6: null },
 * });
 * if (pairs.length !== 1) throw new Error("Expected one pair");
 * ```
 *
 * @module
 */
export * from "./candidates.ts";
export * from "./errors.ts";
export * from "./mapping.ts";
export * from "./tcp.ts";
export * from "./udp.ts";
