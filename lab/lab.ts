/**
 * The {@linkcode Lab} class: build, use and remove a NAT lab.
 *
 * @module
 */

import { labProblems } from "./available.ts";
import { type CommandResult, runCommand, type RunOptions } from "./command.ts";
import { LabExistsError, LabSetupError, LabTeardownError, LabUnavailableError } from "./errors.ts";
import { describeRuleset } from "./nat.ts";
import { addNetns, deleteNetns, listNetns, netnsArgv } from "./netns.ts";
import { LabProcess, type SpawnOptions } from "./process.ts";
import { waitForLinks } from "./ready.ts";
import {
  type LabHost,
  type LabNode,
  type LabPlan,
  type LabRouter,
  type LabServer,
  namespaceNames,
  planLab,
  type RouterKind,
  type SiteName,
  validatePrefix,
} from "./topology.ts";

/** Options for {@linkcode Lab.create}. */
export interface LabOptions {
  /** Site A's router kind. @default {"cone"} */
  a?: RouterKind;
  /** Site B's router kind. @default {"cone"} */
  b?: RouterKind;
  /**
   * Give every node a global IPv6 address (no NAT, so IPv6 can go direct). When false, IPv6 is
   * disabled in every namespace. @default {true}
   */
  ipv6?: boolean;
  /**
   * Run a home-router IPv6 firewall on `cone`, `symmetric` and `cgnat` sites: outbound and
   * replies pass, unsolicited inbound IPv6 is dropped, so direct IPv6 still needs punching.
   * `none` sites never filter. @default {true}
   */
  ipv6Firewall?: boolean;
  /**
   * Namespace name prefix: a lower-case letter and up to 11 lower-case letters or digits.
   * Namespaces are `<prefix>-pub`, `<prefix>-router-a`, `<prefix>-host-a`, `<prefix>-isp-a`
   * (cgnat only) and the same for `b`. @default {a random `pl…` name, unique per lab}
   */
  prefix?: string;
  /** Abort the build; whatever was built is removed and the promise rejects with the reason. */
  signal?: AbortSignal;
}

/** Options for {@linkcode Lab.exec}: those of `runCommand`. */
export type ExecOptions = RunOptions;

/**
 * A small internet in network namespaces: a server on a public segment and two sites, each a
 * host behind a router of some {@linkcode RouterKind}. Needs Linux, root, `ip` and `nft`.
 *
 * Routers forward IPv4 and IPv6 (`net.ipv4.ip_forward=1`, `net.ipv6.conf.all.forwarding=1`);
 * conntrack sysctls keep the kernel defaults, e.g. `nf_conntrack_udp_timeout=30`,
 * `nf_conntrack_udp_timeout_stream=120` and `nf_conntrack_tcp_timeout_syn_sent=120` (seconds),
 * so a UDP mapping without traffic expires after 30 s. IPv6 duplicate address detection is off
 * and `create` waits until every link is up and every bridge port forwards, so packets flow as
 * soon as it resolves (a build takes about 0.1 s).
 *
 * Always destroy a lab (`await using`, or `destroy()` in `finally`). A process killed before
 * that leaves its namespaces behind: `deno task lab status` lists them and
 * `deno task lab down --all` removes them.
 *
 * @example Ask the server who we are
 * ```ts ignore
 * import { Lab } from "./lab.ts";
 * await using lab = await Lab.create({ a: "cone", b: "symmetric" });
 * const result = await lab.exec("a", ["ip", "route", "get", lab.server.v4]);
 * console.log(result.stdout, lab.hostA.publicV4); // "… via 10.77.1.1 …", "198.51.100.1"
 * ```
 */
export class Lab implements AsyncDisposable {
  /** The namespace name prefix. */
  readonly prefix: string;
  /** The server on the public segment. */
  readonly server: LabServer;
  /** Site A: its host and routers. */
  readonly hostA: LabHost;
  /** Site B: its host and routers. */
  readonly hostB: LabHost;
  /** Whether the lab has IPv6. */
  readonly ipv6: boolean;
  /** Every namespace of the lab. */
  readonly namespaces: readonly string[];

  #processes = new Set<LabProcess>();
  #destroying: Promise<void> | null = null;

  private constructor(plan: LabPlan) {
    this.prefix = plan.layout.prefix;
    this.server = plan.server;
    this.hostA = plan.hostA;
    this.hostB = plan.hostB;
    this.ipv6 = plan.layout.ipv6;
    this.namespaces = plan.namespaces;
  }

  /**
   * Build a lab. Throws `LabUnavailableError` when the machine cannot run it, `LabExistsError`
   * when the prefix is taken, and `LabSetupError` when a build step fails (after removing
   * whatever was built).
   *
   * @example
   * ```ts ignore
   * import { Lab } from "./lab.ts";
   * await using lab = await Lab.create({ a: "cgnat", b: "none", ipv6: false });
   * console.log(lab.hostA.isp?.wanV4); // "198.51.100.1"
   * ```
   */
  static async create(options: LabOptions = {}): Promise<Lab> {
    const {
      a = "cone",
      b = "cone",
      ipv6 = true,
      ipv6Firewall = true,
      prefix = randomPrefix(),
      signal,
    } = options;
    const plan = planLab({ prefix, a, b, ipv6, ipv6Firewall });
    signal?.throwIfAborted();
    const problems = await labProblems({ probe: false });
    if (problems.length > 0) throw new LabUnavailableError(problems);
    const taken = await existingNamespaces(prefix);
    if (taken.length > 0) throw new LabExistsError(prefix, taken);
    try {
      await addNetns(plan.namespaces, signal);
      for (const phase of plan.phases) {
        const results = await Promise.allSettled(
          phase.map((step) => runCommand(step.argv, { stdin: step.stdin, check: true, signal })),
        );
        const failed = results.find((result) => result.status === "rejected");
        if (failed) throw failed.reason;
      }
      await waitForLinks(plan.namespaces, { signal });
    } catch (error) {
      const left = await deleteNetns(plan.namespaces);
      if (left.length > 0) throw new LabTeardownError(left, { cause: error });
      if (signal?.aborted) throw signal.reason;
      throw new LabSetupError(prefix, error);
    }
    return new Lab(plan);
  }

  /**
   * Attach to a lab that already runs (e.g. one started with `deno task lab up`), reading its
   * kinds back from the live namespaces. `null` when no lab has that prefix. Destroying the
   * returned lab removes it.
   *
   * @example
   * ```ts ignore
   * import { Lab } from "./lab.ts";
   * const lab = await Lab.open("plab");
   * console.log(lab?.hostA.kind);
   * ```
   */
  static async open(prefix: string): Promise<Lab | null> {
    validatePrefix(prefix);
    const names = namespaceNames(prefix);
    const present = new Set(await listNetns());
    if (!present.has(names.server)) return null;
    const kind = async (site: SiteName): Promise<{ kind: RouterKind; v6Firewall: boolean }> => {
      const router = site === "a" ? names.routerA : names.routerB;
      const isp = site === "a" ? names.ispA : names.ispB;
      const ruleset = await runCommand(netnsArgv(router, ["nft", "list", "ruleset"]), {
        check: true,
      });
      const seen = describeRuleset(ruleset.stdout);
      return { kind: present.has(isp) ? "cgnat" : seen.nat, v6Firewall: seen.ipv6Firewall };
    };
    const [siteA, siteB, addresses] = await Promise.all([
      kind("a"),
      kind("b"),
      runCommand(["ip", "-n", names.server, "-6", "addr", "show", "dev", "br0", "scope", "global"]),
    ]);
    const ipv6 = addresses.stdout.includes("inet6");
    return new Lab(
      planLab({
        prefix,
        a: siteA.kind,
        b: siteB.kind,
        ipv6,
        ipv6Firewall: siteA.v6Firewall || siteB.v6Firewall,
      }),
    );
  }

  /**
   * Remove every namespace of the lab with `prefix` (killing processes left inside them).
   * Returns the namespaces removed. Throws `LabTeardownError` if some remain.
   *
   * @example
   * ```ts ignore
   * import { Lab } from "./lab.ts";
   * const removed = await Lab.remove("plab");
   * console.log(`removed ${removed.length} namespaces`);
   * ```
   */
  static async remove(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const targets = await existingNamespaces(prefix);
    const left = await deleteNetns(targets);
    if (left.length > 0) throw new LabTeardownError(left);
    return targets;
  }

  /**
   * Whether this machine can run the lab (root, `ip`, `nft`, kernel support).
   *
   * @example
   * ```ts ignore
   * import { Lab } from "./lab.ts";
   * if (!(await Lab.available())) console.log("no lab here");
   * ```
   */
  static async available(): Promise<boolean> {
    return (await labProblems()).length === 0;
  }

  /**
   * Site `site`'s host.
   *
   * @example
   * ```ts ignore
   * console.log(lab.host("b").publicV4);
   * ```
   */
  host(site: SiteName): LabHost {
    return site === "a" ? this.hostA : this.hostB;
  }

  /**
   * The namespace of `node`. Throws a `RangeError` for `ispA`/`ispB` on non-cgnat sites.
   *
   * @example
   * ```ts ignore
   * console.log(lab.nsOf("routerA")); // e.g. "pl3kx9a-router-a"
   * ```
   */
  nsOf(node: LabNode): string {
    switch (node) {
      case "server":
        return this.server.ns;
      case "a":
      case "b":
        return this.host(node).ns;
      case "routerA":
        return this.hostA.router.ns;
      case "routerB":
        return this.hostB.router.ns;
      case "ispA":
      case "ispB": {
        const host = node === "ispA" ? this.hostA : this.hostB;
        if (host.isp) return host.isp.ns;
        throw new RangeError(
          `Cannot use node '${node}': site ${host.site} is '${host.kind}', only 'cgnat' sites ` +
            "have an ISP router",
        );
      }
      default:
        throw new RangeError(
          `Cannot use node '${node}': use one of server, a, b, routerA, ` +
            "routerB, ispA, ispB",
        );
    }
  }

  /**
   * The router in front of `site`'s host that faces the public segment (the ISP router for
   * cgnat, else the home router).
   *
   * @example
   * ```ts ignore
   * console.log(lab.edgeRouter("a").wanV4); // "198.51.100.1"
   * ```
   */
  edgeRouter(site: SiteName): LabRouter {
    const host = this.host(site);
    return host.isp ?? host.router;
  }

  /**
   * Run `argv` to completion inside `node` and collect its output. A non-zero exit is not an
   * error unless `options.check` is set.
   *
   * @example
   * ```ts ignore
   * const { stdout } = await lab.exec("a", ["ip", "addr"], { check: true, timeoutMs: 5000 });
   * ```
   */
  exec(node: LabNode, argv: readonly string[], options: ExecOptions = {}): Promise<CommandResult> {
    this.#assertUsable();
    return runCommand(netnsArgv(this.nsOf(node), argv), options);
  }

  /**
   * Start a long-running `argv` inside `node`. The lab stops it on {@linkcode Lab.destroy} if
   * you have not already.
   *
   * @example
   * ```ts ignore
   * await using server = lab.spawn("server", ["deno", "run", "-A", "server.ts"]);
   * await server.waitForLine(/listening/);
   * ```
   */
  spawn(node: LabNode, argv: readonly string[], options: SpawnOptions = {}): LabProcess {
    this.#assertUsable();
    const proc = LabProcess.spawn(this.nsOf(node), argv, options);
    this.#processes.add(proc);
    proc.status.finally(() => this.#processes.delete(proc));
    return proc;
  }

  /** Whether {@linkcode Lab.destroy} has been called. */
  get destroyed(): boolean {
    return this.#destroying !== null;
  }

  /**
   * Stop the processes started with {@linkcode Lab.spawn}, kill anything else left in the
   * namespaces and remove them. Safe to call more than once. Throws `LabTeardownError` if some
   * namespaces remain.
   *
   * @example
   * ```ts ignore
   * await lab.destroy();
   * ```
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  /** Same as {@linkcode Lab.destroy}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  async #teardown(): Promise<void> {
    const processes = [...this.#processes];
    for (const proc of processes) proc.kill("SIGTERM");
    await within(Promise.allSettled(processes.map((proc) => proc.status)), TERM_GRACE_MS);
    // Deleting SIGKILLs whatever is still inside, including processes our children started.
    const left = await deleteNetns(this.namespaces);
    await Promise.allSettled(processes.map((proc) => proc.stop({ graceMs: 0 })));
    if (left.length > 0) throw new LabTeardownError(left);
  }

  #assertUsable(): void {
    if (this.#destroying) {
      throw new RangeError(`Cannot use lab '${this.prefix}': it has been destroyed`);
    }
  }
}

/** How long `destroy` gives spawned processes to exit after SIGTERM. */
const TERM_GRACE_MS = 1000;

/** Wait for `promise`, but at most `ms` milliseconds. */
async function within(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([promise, new Promise((resolve) => timer = setTimeout(resolve, ms))]);
  clearTimeout(timer);
}

async function existingNamespaces(prefix: string): Promise<string[]> {
  const names = new Set(Object.values(namespaceNames(prefix)));
  return (await listNetns()).filter((name) => names.has(name));
}

function randomPrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  return "pl" + [...bytes].map((byte) => (byte % 36).toString(36)).join("");
}
