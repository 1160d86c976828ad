/**
 * The peerlink NAT lab: a small internet inside Linux network namespaces, built and removed by
 * tests (or by hand with `deno task lab`), to try direct connections between peers behind
 * different kinds of NAT routers. Root only; not published.
 *
 * Topology (site A is number 1, site B number 2 in every address):
 *
 * - `<prefix>-pub`: the public segment, a bridge holding the server `198.51.100.10` (and
 *   `.11`), `2001:db8:100::10` (and `::11`).
 * - `<prefix>-router-a`: site A's home router, `wan` on the public segment as `198.51.100.1` /
 *   `2001:db8:100::1` and `lan` `10.77.1.1/24`, `2001:db8:1::1/64`.
 * - `<prefix>-host-a`: site A's host, `eth0` `10.77.1.2`, `2001:db8:1::2`.
 * - `<prefix>-isp-a` (`cgnat` only): the ISP router on the public segment in front of the home
 *   router, linked over `100.64.1.0/24` and `2001:db8:1:64::/64`.
 *
 * Router kinds ({@linkcode RouterKind}): `none` (routing only, the host's private address is
 * routed), `cone` (port-preserving endpoint-independent mapping, port-restricted filtering),
 * `symmetric` (a random port per destination) and `cgnat` (two cone NATs in series). IPv6 is
 * never translated; on `cone`, `symmetric` and `cgnat` sites a home-router firewall drops
 * unsolicited inbound IPv6 (option `ipv6Firewall`, on by default).
 *
 * @example Skip when unavailable, build a lab, run commands, tear it down
 * ```ts
 * import { Lab, skipReason } from "./mod.ts";
 *
 * const reason = await skipReason();
 * if (reason === null) {
 *   await using lab = await Lab.create({ a: "cone", b: "symmetric" });
 *   const route = await lab.exec("a", ["ip", "route", "get", lab.server.v4], { check: true });
 *   if (!route.stdout.includes("via 10.77.1.1")) throw new Error("Expected the home router");
 *   if (lab.hostA.publicV4 !== "198.51.100.1") throw new Error("Unexpected address");
 * }
 * ```
 *
 * @module
 */

export * from "./available.ts";
export * from "./cli.ts";
export * from "./command.ts";
export * from "./errors.ts";
export * from "./lab.ts";
export * from "./nat.ts";
export * from "./netns.ts";
export * from "./process.ts";
export * from "./ready.ts";
export * from "./topology.ts";
export * from "./harness.ts";
