/**
 * nftables rulesets for the lab's routers (pure functions returning `nft -f` text).
 *
 * Each router has exactly two interfaces, `wan` (towards the public segment) and `lan`
 * (towards its host or home router). The recipes follow RFC 4787 terms:
 *
 * - `cone`: `masquerade persistent`. Linux keeps the source port when it is free, so one
 *   private endpoint maps to one public endpoint for every destination (endpoint-independent
 *   mapping, port-preserving). Only conntrack replies are de-NATed, so inbound packets must come
 *   from the exact address and port the host sent to (address-and-port-dependent filtering,
 *   "port-restricted cone").
 * - `symmetric`: `masquerade random,fully-random`: every new 5-tuple gets a random public port
 *   (address-and-port-dependent mapping), with the same filtering.
 * - `none`: no rules at all; the router only forwards.
 *
 * In both NAT cases new connections arriving on `wan` are dropped in a prerouting chain at
 * priority -150 (after conntrack, before it confirms the entry), so unsolicited packets leave no
 * conntrack entry behind that could steal a port from a later outbound mapping.
 *
 * The optional IPv6 firewall is what a home router does: forward from `lan` freely, accept
 * established/related traffic back, drop everything else. No IPv6 translation happens.
 *
 * @module
 */

/** What a single router does to IPv4 traffic leaving through its `wan` interface. */
export type NatBehaviour = "none" | "cone" | "symmetric";

/** Name of the nftables table holding the IPv4 NAT chain. */
export const NAT_TABLE = "peerlink_nat";
/** Name of the nftables table holding the IPv4 filter chains. */
export const FILTER_TABLE = "peerlink_filter";
/** Name of the nftables table holding the IPv6 firewall. */
export const FIREWALL6_TABLE = "peerlink_fw6";

/**
 * The IPv4 ruleset for a router doing `nat`, or `""` for `none`.
 *
 * @example
 * ```ts
 * import { ipv4Ruleset } from "./nat.ts";
 * if (!ipv4Ruleset("symmetric").includes("random,fully-random")) throw new Error("Bad rules");
 * if (ipv4Ruleset("none") !== "") throw new Error("Expected no rules");
 * ```
 */
export function ipv4Ruleset(nat: NatBehaviour): string {
  if (nat === "none") return "";
  const masquerade = nat === "cone" ? "masquerade persistent" : "masquerade random,fully-random";
  return `table ip ${NAT_TABLE} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "wan" ${masquerade}
  }
}
table ip ${FILTER_TABLE} {
  chain wan_in {
    type filter hook prerouting priority -150; policy accept;
    iifname "wan" ct state new drop
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    iifname "lan" accept
    ct state established,related accept
  }
}
`;
}

/**
 * The stateful IPv6 firewall of a home router: outbound free, inbound only as replies.
 *
 * @example
 * ```ts
 * import { ipv6FirewallRuleset } from "./nat.ts";
 * if (!ipv6FirewallRuleset().includes("established,related")) throw new Error("Bad rules");
 * ```
 */
export function ipv6FirewallRuleset(): string {
  return `table ip6 ${FIREWALL6_TABLE} {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "lan" accept
  }
}
`;
}

/**
 * The whole ruleset of one router: IPv4 NAT for `nat`, plus the IPv6 firewall when
 * `ipv6Firewall` is true. `""` means the router needs no rules.
 *
 * @example
 * ```ts
 * import { routerRuleset } from "./nat.ts";
 * const rules = routerRuleset("cone", true);
 * if (!rules.includes("masquerade persistent") || !rules.includes("table ip6")) {
 *   throw new Error("Bad rules");
 * }
 * ```
 */
export function routerRuleset(nat: NatBehaviour, ipv6Firewall: boolean): string {
  return ipv4Ruleset(nat) + (ipv6Firewall ? ipv6FirewallRuleset() : "");
}

/**
 * Read back what a router's live ruleset (`nft list ruleset` output) does.
 *
 * @example
 * ```ts
 * import { describeRuleset, routerRuleset } from "./nat.ts";
 * const seen = describeRuleset(routerRuleset("symmetric", false));
 * if (seen.nat !== "symmetric" || seen.ipv6Firewall) throw new Error("Bad reading");
 * ```
 */
export function describeRuleset(
  ruleset: string,
): { readonly nat: NatBehaviour; readonly ipv6Firewall: boolean } {
  const nat: NatBehaviour = ruleset.includes("fully-random")
    ? "symmetric"
    : ruleset.includes("masquerade")
    ? "cone"
    : "none";
  return { nat, ipv6Firewall: ruleset.includes(`table ip6 ${FIREWALL6_TABLE}`) };
}
