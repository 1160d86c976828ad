/**
 * The lab's topology as data: names, addresses and the commands that build it. Pure, so it can
 * be checked without root.
 *
 * ```text
 *                      public segment: bridge br0 in <prefix>-pub
 *                      198.51.100.0/24, 2001:db8:100::/64
 *        server .10 / ::10 (also .11 / ::11) lives on br0 itself
 *          |                                        |
 *   wan 198.51.100.1, ::1                     wan 198.51.100.2, ::2
 *   [isp-a] lan 100.64.1.1 (cgnat only)       [isp-b] lan 100.64.2.1 (cgnat only)
 *          |  100.64.1.0/24, 2001:db8:1:64::/64     |
 *   [router-a] lan 10.77.1.1, 2001:db8:1::1   [router-b] lan 10.77.2.1, 2001:db8:2::1
 *          |                                        |
 *   [host-a] 10.77.1.2, 2001:db8:1::2         [host-b] 10.77.2.2, 2001:db8:2::2
 * ```
 *
 * Site A is number 1 and site B number 2 in every address. Without CGNAT the home router sits
 * directly on the public segment with the `wan` addresses shown for the ISP router. Site `n`
 * owns the IPv6 prefix `2001:db8:n::/48`, routed by every node on the public segment. A `none`
 * site's IPv4 LAN `10.77.n.0/24` is routed too (routing without NAT); NAT sites' LANs are not.
 *
 * @module
 */

import { type NatBehaviour, routerRuleset } from "./nat.ts";
import { netnsArgv } from "./netns.ts";

/**
 * How a site reaches the public segment:
 * - `none`: a plain router, no NAT and no firewall; the host's private address is routed.
 * - `cone`: port-preserving endpoint-independent mapping with port-restricted filtering.
 * - `symmetric`: a random public port per destination (`masquerade random,fully-random`).
 * - `cgnat`: a `cone` home router behind a `cone` ISP router, 100.64.n.0/24 between them.
 */
export type RouterKind = "none" | "cone" | "symmetric" | "cgnat";

/**
 * Every router kind, in the order the CLI lists them.
 *
 * @example
 * ```ts
 * import { ROUTER_KINDS } from "./topology.ts";
 * if (!ROUTER_KINDS.includes("cgnat")) throw new Error("Missing kind");
 * ```
 */
export const ROUTER_KINDS: readonly RouterKind[] = ["none", "cone", "symmetric", "cgnat"];

/**
 * Whether `value` names a router kind.
 *
 * @example
 * ```ts
 * import { isRouterKind } from "./topology.ts";
 * if (!isRouterKind("cone") || isRouterKind("full-cone")) throw new Error("Bad check");
 * ```
 */
export function isRouterKind(value: string): value is RouterKind {
  return (ROUTER_KINDS as readonly string[]).includes(value);
}

/** The two sites. */
export type SiteName = "a" | "b";

/** Everything `Lab.exec` and `Lab.spawn` can run in. */
export type LabNode = "server" | SiteName | "routerA" | "routerB" | "ispA" | "ispB";

/**
 * Every lab node name.
 *
 * @example
 * ```ts
 * import { LAB_NODES } from "./topology.ts";
 * if (LAB_NODES.length !== 7) throw new Error("Expected 7 nodes");
 * ```
 */
export const LAB_NODES: readonly LabNode[] = [
  "server",
  "a",
  "b",
  "routerA",
  "routerB",
  "ispA",
  "ispB",
];

/** The server host on the public segment. */
export interface LabServer {
  /** Namespace holding the public bridge and the server's addresses. */
  readonly ns: string;
  /** The server's IPv4 address. */
  readonly v4: string;
  /** A second IPv4 address on the same host (for address-dependent tests). */
  readonly v4Alt: string;
  /** The server's IPv6 address, or `null` when the lab has no IPv6. */
  readonly v6: string | null;
  /** A second IPv6 address on the same host, or `null` when the lab has no IPv6. */
  readonly v6Alt: string | null;
}

/** One router namespace, always with exactly the interfaces `wan` and `lan`. */
export interface LabRouter {
  /** Its namespace. */
  readonly ns: string;
  /** `home` is the site's own router; `isp` is the carrier-grade NAT in front of it. */
  readonly role: "home" | "isp";
  /** What it does to IPv4 leaving through `wan`. */
  readonly nat: NatBehaviour;
  /** IPv4 address on `wan`. */
  readonly wanV4: string;
  /** IPv4 address on `lan`. */
  readonly lanV4: string;
  /** IPv6 address on `wan`, or `null` without IPv6. */
  readonly wanV6: string | null;
  /** IPv6 address on `lan`, or `null` without IPv6. */
  readonly lanV6: string | null;
  /** Whether it runs the stateful IPv6 firewall (drops unsolicited inbound IPv6). */
  readonly v6Firewall: boolean;
}

/** A host at one site and the routers between it and the public segment. */
export interface LabHost {
  /** Which site. */
  readonly site: SiteName;
  /** The site's router kind. */
  readonly kind: RouterKind;
  /** The host's namespace (its interface is `eth0`). */
  readonly ns: string;
  /** The host's (private) IPv4 address. */
  readonly v4: string;
  /** The host's IPv4 LAN, e.g. `10.77.1.0/24`. */
  readonly v4Subnet: string;
  /** The host's global IPv6 address, or `null` without IPv6. */
  readonly v6: string | null;
  /** The IPv6 prefix routed to the site, e.g. `2001:db8:1::/48`, or `null` without IPv6. */
  readonly v6Prefix: string | null;
  /** IPv4 source address the server sees for this host: the host itself, its router or ISP. */
  readonly publicV4: string;
  /** The site's home router (the host's default gateway). */
  readonly router: LabRouter;
  /** The ISP router for `cgnat`, else `null`. */
  readonly isp: LabRouter | null;
}

/** What to build; every field is required here (see `LabOptions` for the defaults). */
export interface LabLayout {
  /** Namespace name prefix, see {@linkcode validatePrefix}. */
  readonly prefix: string;
  /** Site A's router kind. */
  readonly a: RouterKind;
  /** Site B's router kind. */
  readonly b: RouterKind;
  /** Give every node IPv6 (no NAT). Without it IPv6 is disabled in every namespace. */
  readonly ipv6: boolean;
  /** Run the stateful IPv6 firewall on non-`none` home routers (only with `ipv6`). */
  readonly ipv6Firewall: boolean;
}

/** One command of a build phase. */
export interface LabStep {
  /** The namespace the step configures. */
  readonly ns: string;
  /** Full command line, program first. */
  readonly argv: readonly string[];
  /** Text for its stdin, if any. */
  readonly stdin?: string;
}

/** A lab's names, addresses and build commands. */
export interface LabPlan {
  /** What was asked for. */
  readonly layout: LabLayout;
  /** Every namespace, in creation order. */
  readonly namespaces: readonly string[];
  /** The server on the public segment. */
  readonly server: LabServer;
  /** Host and routers of site A. */
  readonly hostA: LabHost;
  /** Host and routers of site B. */
  readonly hostB: LabHost;
  /** Build phases, run in order after the namespaces exist; the steps of a phase may run at once. */
  readonly phases: readonly (readonly LabStep[])[];
}

/** Allowed namespace prefixes: a lower-case letter, then up to 11 lower-case letters or digits. */
export const PREFIX_PATTERN: RegExp = /^[a-z][a-z0-9]{0,11}$/;

/** Interface index of the first veth end; the lab numbers its veths upwards from here. */
export const FIRST_VETH_INDEX = 10;

/** The server's IPv4 address. */
export const SERVER_V4 = "198.51.100.10";
/** The server's second IPv4 address. */
export const SERVER_V4_ALT = "198.51.100.11";
/** The server's IPv6 address. */
export const SERVER_V6 = "2001:db8:100::10";
/** The server's second IPv6 address. */
export const SERVER_V6_ALT = "2001:db8:100::11";

/**
 * Throw a `RangeError` unless `prefix` matches {@linkcode PREFIX_PATTERN}.
 *
 * @example
 * ```ts
 * import { validatePrefix } from "./topology.ts";
 * validatePrefix("plab");
 * let threw = false;
 * try {
 *   validatePrefix("Bad Prefix");
 * } catch {
 *   threw = true;
 * }
 * if (!threw) throw new Error("Expected a RangeError");
 * ```
 */
export function validatePrefix(prefix: string): void {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new RangeError(
      `Cannot use lab prefix '${prefix}': use a lower-case letter followed by up to 11 ` +
        "lower-case letters or digits, e.g. 'plab'",
    );
  }
}

/**
 * Namespace names of a lab with `prefix` (all seven, whether or not a layout uses the ISP ones).
 *
 * @example
 * ```ts
 * import { namespaceNames } from "./topology.ts";
 * if (namespaceNames("plab").a !== "plab-host-a") throw new Error("Bad name");
 * ```
 */
export function namespaceNames(prefix: string): Readonly<Record<LabNode, string>> {
  return {
    server: `${prefix}-pub`,
    a: `${prefix}-host-a`,
    b: `${prefix}-host-b`,
    routerA: `${prefix}-router-a`,
    routerB: `${prefix}-router-b`,
    ispA: `${prefix}-isp-a`,
    ispB: `${prefix}-isp-b`,
  };
}

/**
 * Work out every name, address, route and rule of a lab. Pure: nothing is run.
 *
 * @example
 * ```ts
 * import { planLab } from "./topology.ts";
 * const plan = planLab({ prefix: "pl1", a: "cgnat", b: "none", ipv6: true, ipv6Firewall: true });
 * if (plan.hostA.publicV4 !== "198.51.100.1") throw new Error("Expected the ISP's address");
 * if (plan.hostB.publicV4 !== plan.hostB.v4) throw new Error("Expected no NAT");
 * if (plan.namespaces.length !== 6) throw new Error("Expected an ISP namespace for site A");
 * ```
 */
export function planLab(layout: LabLayout): LabPlan {
  validatePrefix(layout.prefix);
  for (const site of ["a", "b"] as const) {
    if (!isRouterKind(layout[site])) {
      throw new RangeError(
        `Cannot plan site ${site}: router kind '${layout[site]}' is not one of ` +
          ROUTER_KINDS.join(", "),
      );
    }
  }
  const names = namespaceNames(layout.prefix);
  const { ipv6 } = layout;
  const server: LabServer = {
    ns: names.server,
    v4: SERVER_V4,
    v4Alt: SERVER_V4_ALT,
    v6: ipv6 ? SERVER_V6 : null,
    v6Alt: ipv6 ? SERVER_V6_ALT : null,
  };
  const hostA = planHost(layout, "a", names);
  const hostB = planHost(layout, "b", names);
  const hosts = [hostA, hostB];
  const routers = hosts.flatMap((host) => host.isp ? [host.isp, host.router] : [host.router]);
  const namespaces = [server.ns, ...routers.map((router) => router.ns), hostA.ns, hostB.ns];
  const wanRouter = (host: LabHost): LabRouter => host.isp ?? host.router;

  // Phase 1: sysctls, set before any interface exists so new interfaces inherit the defaults.
  const common = ipv6
    ? ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]
    : ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"];
  common.push("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0");
  const forwarding = (on: boolean): string[] => [
    `net.ipv4.ip_forward=${on ? 1 : 0}`,
    ...(ipv6 ? [`net.ipv6.conf.all.forwarding=${on ? 1 : 0}`] : []),
  ];
  const sysctl = (ns: string, router: boolean): LabStep => ({
    ns,
    argv: netnsArgv(ns, ["sysctl", "-qw", ...common, ...forwarding(router)]),
  });
  const sysctls = [
    sysctl(server.ns, false),
    ...routers.map((router) => sysctl(router.ns, true)),
    ...hosts.map((host) => sysctl(host.ns, false)),
  ];

  // Phase 2: links. Each veth is created in one namespace with its peer placed in another.
  // Both ends get lab-unique interface indexes: the kernel treats carrier changes of a device
  // whose index differs from its peer's as urgent, so links come up at once instead of after
  // up to a second of rate limiting.
  let nextIndex = FIRST_VETH_INDEX;
  const veth = (name: string, peer: string, peerNs: string): string => {
    const index = nextIndex;
    nextIndex += 2;
    return `link add ${name} index ${index} type veth peer name ${peer} index ${index + 1} ` +
      `netns ${peerNs}`;
  };
  const links: LabStep[] = [
    ipBatch(server.ns, [
      "link add br0 type bridge mcast_snooping 0",
      ...hosts.map((host) => veth(`port-${host.site}`, "wan", wanRouter(host).ns)),
    ]),
    ...hosts.flatMap((host) => [
      ...(host.isp ? [ipBatch(host.isp.ns, [veth("lan", "wan", host.router.ns)])] : []),
      ipBatch(host.router.ns, [veth("lan", "eth0", host.ns)]),
    ]),
  ];

  // Phase 3: interfaces up with their addresses.
  const v4 = (address: string, prefixLength: number, dev: string): string[] => [
    `addr add ${address}/${prefixLength} dev ${dev}`,
  ];
  const v6 = (address: string | null, dev: string): string[] =>
    address === null ? [] : [`addr add ${address}/64 dev ${dev} nodad`];
  const addresses: LabStep[] = [
    ipBatch(server.ns, [
      "link set lo up",
      "link set br0 up",
      ...hosts.flatMap((
        host,
      ) => [`link set port-${host.site} master br0`, `link set port-${host.site} up`]),
      ...v4(server.v4, 24, "br0"),
      ...v4(server.v4Alt, 24, "br0"),
      ...v6(server.v6, "br0"),
      ...v6(server.v6Alt, "br0"),
    ]),
    ...routers.map((router) =>
      ipBatch(router.ns, [
        "link set lo up",
        "link set wan up",
        "link set lan up",
        ...v4(router.wanV4, 24, "wan"),
        ...v4(router.lanV4, 24, "lan"),
        ...v6(router.wanV6, "wan"),
        ...v6(router.lanV6, "lan"),
      ])
    ),
    ...hosts.map((host) =>
      ipBatch(host.ns, [
        "link set lo up",
        "link set eth0 up",
        ...v4(host.v4, 24, "eth0"),
        ...v6(host.v6, "eth0"),
      ])
    ),
  ];

  // Phase 4: routes. Nodes on the public segment route to the other sites' prefixes.
  const siteRoutes = (host: LabHost): string[] => {
    const gateway = wanRouter(host);
    return [
      ...(host.kind === "none" ? [`route add ${host.v4Subnet} via ${gateway.wanV4}`] : []),
      ...(host.v6Prefix && gateway.wanV6
        ? [`route add ${host.v6Prefix} via ${gateway.wanV6}`]
        : []),
    ];
  };
  const routes: LabStep[] = [];
  const push = (ns: string, lines: string[]): void => {
    if (lines.length > 0) routes.push(ipBatch(ns, lines));
  };
  push(server.ns, hosts.flatMap(siteRoutes));
  for (const host of hosts) {
    const others = hosts.filter((other) => other !== host).flatMap(siteRoutes);
    if (host.isp) {
      push(host.isp.ns, [
        ...others,
        ...(host.v6Prefix && host.router.wanV6
          ? [`route add ${host.v6Prefix} via ${host.router.wanV6}`]
          : []),
      ]);
      push(host.router.ns, [
        `route add default via ${host.isp.lanV4}`,
        ...(host.isp.lanV6 ? [`route add ::/0 via ${host.isp.lanV6}`] : []),
      ]);
    } else {
      push(host.router.ns, others);
    }
    push(host.ns, [
      `route add default via ${host.router.lanV4}`,
      ...(host.router.lanV6 ? [`route add ::/0 via ${host.router.lanV6}`] : []),
    ]);
  }

  // Phase 5: nftables.
  const rules: LabStep[] = routers.flatMap((router) => {
    const ruleset = routerRuleset(router.nat, router.v6Firewall);
    return ruleset === ""
      ? []
      : [{ ns: router.ns, argv: netnsArgv(router.ns, ["nft", "-f", "-"]), stdin: ruleset }];
  });

  return {
    layout,
    namespaces,
    server,
    hostA,
    hostB,
    phases: [sysctls, links, addresses, routes, rules],
  };
}

function planHost(
  layout: LabLayout,
  site: SiteName,
  names: Readonly<Record<LabNode, string>>,
): LabHost {
  const n = site === "a" ? 1 : 2;
  const kind = layout[site];
  const ipv6 = layout.ipv6;
  const cgnat = kind === "cgnat";
  const wanV4 = `198.51.100.${n}`;
  const wanV6 = ipv6 ? `2001:db8:100::${n}` : null;
  const isp: LabRouter | null = cgnat
    ? {
      ns: site === "a" ? names.ispA : names.ispB,
      role: "isp",
      nat: "cone",
      wanV4,
      lanV4: `100.64.${n}.1`,
      wanV6,
      lanV6: ipv6 ? `2001:db8:${n}:64::1` : null,
      v6Firewall: false,
    }
    : null;
  const router: LabRouter = {
    ns: site === "a" ? names.routerA : names.routerB,
    role: "home",
    nat: kind === "cgnat" ? "cone" : kind,
    wanV4: cgnat ? `100.64.${n}.2` : wanV4,
    lanV4: `10.77.${n}.1`,
    wanV6: cgnat ? (ipv6 ? `2001:db8:${n}:64::2` : null) : wanV6,
    lanV6: ipv6 ? `2001:db8:${n}::1` : null,
    v6Firewall: ipv6 && layout.ipv6Firewall && kind !== "none",
  };
  const v4 = `10.77.${n}.2`;
  return {
    site,
    kind,
    ns: names[site],
    v4,
    v4Subnet: `10.77.${n}.0/24`,
    v6: ipv6 ? `2001:db8:${n}::2` : null,
    v6Prefix: ipv6 ? `2001:db8:${n}::/48` : null,
    publicV4: kind === "none" ? v4 : wanV4,
    router,
    isp,
  };
}

function ipBatch(ns: string, lines: readonly string[]): LabStep {
  return {
    ns,
    argv: ["ip", "-n", ns, "-batch", "-"],
    stdin: lines.map((line) => `${line}\n`).join(""),
  };
}
