import assert from "node:assert/strict";
import {
  Lab,
  LabExistsError,
  type LabNode,
  LabProcess,
  LabProcessError,
  planLab,
  ROUTER_KINDS,
  runLabCli,
  skipReason,
  USAGE_EXIT_CODE,
} from "../lab/mod.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab tests are skipped: ${reason}`);
const ignore = reason !== null;

const PROBE = new URL("./lab_probe.ts", import.meta.url).pathname;
const PROBE_TIMEOUT_MS = 10_000;

interface Seen {
  ip: string;
  port: number;
}

interface AskResult {
  replies: (Seen | null)[];
  extra: (Seen & { text: string })[];
}

function probeArgv(mode: string, config: unknown): string[] {
  return [
    Deno.execPath(),
    "run",
    "--no-config",
    "--unstable-net",
    "-A",
    PROBE,
    mode,
    JSON.stringify(config),
  ];
}

async function startServer(lab: Lab, ports: number[]): Promise<LabProcess> {
  const proc = lab.spawn("server", probeArgv("serve", { v4: "0.0.0.0", v6: lab.server.v6, ports }));
  await proc.waitForLine(/^ready$/, { timeoutMs: PROBE_TIMEOUT_MS });
  return proc;
}

async function ask(
  lab: Lab,
  node: LabNode,
  config: {
    bind: string;
    port: number;
    listenMs?: number;
    send: { host: string; port: number; msg: string }[];
  },
): Promise<AskResult> {
  const result = await lab.exec(node, probeArgv("ask", { listenMs: 0, ...config }), {
    check: true,
    timeoutMs: PROBE_TIMEOUT_MS,
  });
  return JSON.parse(result.stdout);
}

async function netnsList(): Promise<string> {
  const command = new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" });
  return new TextDecoder().decode((await command.output()).stdout);
}

async function assertGone(namespaces: readonly string[]): Promise<void> {
  const listed = (await netnsList()).split("\n").map((line) => line.split(" ")[0]);
  for (const ns of namespaces) assert.ok(!listed.includes(ns), `${ns} is still there`);
}

Deno.test("planLab() keeps names short and unique for every pair of kinds", () => {
  for (const a of ROUTER_KINDS) {
    for (const b of ROUTER_KINDS) {
      const plan = planLab({ prefix: "pl0123456789", a, b, ipv6: true, ipv6Firewall: true });
      assert.equal(new Set(plan.namespaces).size, plan.namespaces.length);
      assert.equal(plan.namespaces.length, 5 + (a === "cgnat" ? 1 : 0) + (b === "cgnat" ? 1 : 0));
      for (const step of plan.phases.flat()) {
        for (const match of (step.stdin ?? "").matchAll(/link add (\S+) .*peer name (\S+)/g)) {
          assert.ok((match[1] ?? "").length <= 15 && (match[2] ?? "").length <= 15, match[0]);
        }
      }
    }
  }
});

Deno.test("planLab() rejects bad prefixes and kinds with a RangeError", () => {
  const layout = { prefix: "plab", a: "cone", b: "cone", ipv6: true, ipv6Firewall: true } as const;
  assert.throws(() => planLab({ ...layout, prefix: "has-dash" }), RangeError);
  assert.throws(() => planLab({ ...layout, prefix: "waytoolongprefix" }), RangeError);
  // @ts-expect-error: not a router kind
  assert.throws(() => planLab({ ...layout, b: "fullcone" }), /none, cone, symmetric, cgnat/);
});

Deno.test("runLabCli() answers usage errors with exit code 2 and --help with 0", async () => {
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runLabCli(args, {
      stdout: (line) => out.push(line),
      stderr: (line) => err.push(line),
    });
    return { code, out: out.join("\n"), err: err.join("\n") };
  };
  const bad = await run(["up", "cone", "fullcone"]);
  assert.equal(bad.code, USAGE_EXIT_CODE);
  assert.match(bad.err, /unknown router kind 'fullcone'.*none, cone, symmetric, cgnat/);
  assert.equal((await run(["up", "cone", "cone", "cone"])).code, USAGE_EXIT_CODE);
  assert.equal((await run(["destroy"])).code, USAGE_EXIT_CODE);
  assert.equal((await run(["down", "--prefix", "Bad"])).code, USAGE_EXIT_CODE);
  assert.equal((await run(["status", "--all"])).code, USAGE_EXIT_CODE);
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /deno task lab up/);
});

Deno.test({
  name: "Lab routes a none site and NATs a cone site (EIM, port-preserving, filtering, IPv6)",
  ignore,
  fn: async () => {
    let namespaces: readonly string[] = [];
    {
      await using lab = await Lab.create({ a: "none", b: "cone" });
      namespaces = lab.namespaces;
      await using _server = await startServer(lab, [7001, 7002]);
      const { server, hostA, hostB } = lab;
      const to = (port: number, msg = "who") => ({ host: server.v4, port, msg });

      // none: routed, no NAT, no filtering.
      const none = await ask(lab, "a", {
        bind: "0.0.0.0",
        port: 40001,
        listenMs: 300,
        send: [to(7001, "poke 7002")],
      });
      assert.deepEqual(none.replies, [{ ip: hostA.v4, port: 40001 }]);
      assert.deepEqual(none.extra, [{ ip: server.v4, port: 7002, text: "poke" }]);

      // cone: one public endpoint (the router's WAN address, same port) for two destinations.
      const cone = await ask(lab, "b", {
        bind: "0.0.0.0",
        port: 40002,
        send: [to(7001), to(7002)],
      });
      assert.equal(hostB.publicV4, hostB.router.wanV4);
      assert.deepEqual(cone.replies, [
        { ip: hostB.publicV4, port: 40002 },
        { ip: hostB.publicV4, port: 40002 },
      ]);

      // cone filtering: the mapping made towards :7001 lets :7001 in, but not :7002.
      const filtered = await ask(lab, "b", {
        bind: "0.0.0.0",
        port: 40003,
        listenMs: 500,
        send: [to(7001, "poke 7002"), to(7001, "poke 7001")],
      });
      assert.deepEqual(filtered.replies.map((seen) => seen?.ip), [hostB.publicV4, hostB.publicV4]);
      assert.deepEqual(filtered.extra, [{ ip: server.v4, port: 7001, text: "poke" }]);

      // TCP is translated the same way.
      const tcp = await lab.exec("b", probeArgv("tcp-ask", { host: server.v4, port: 7001 }), {
        check: true,
        timeoutMs: PROBE_TIMEOUT_MS,
      });
      assert.equal(JSON.parse(tcp.stdout).ip, hostB.publicV4);

      // IPv6 is never translated; the cone site's firewall drops unsolicited inbound.
      assert.ok(server.v6 && hostA.v6 && hostB.v6);
      const to6 = (msg: string) => ({ host: server.v6 ?? "", port: 7001, msg });
      const v6a = await ask(lab, "a", {
        bind: "::",
        port: 40004,
        listenMs: 300,
        send: [to6("poke 7002")],
      });
      assert.deepEqual(v6a.replies, [{ ip: hostA.v6, port: 40004 }]);
      assert.deepEqual(v6a.extra, [{ ip: server.v6, port: 7002, text: "poke" }]);
      const v6b = await ask(lab, "b", {
        bind: "::",
        port: 40005,
        listenMs: 500,
        send: [to6("poke 7002"), to6("poke 7001")],
      });
      assert.deepEqual(v6b.replies, [{ ip: hostB.v6, port: 40005 }, { ip: hostB.v6, port: 40005 }]);
      assert.deepEqual(v6b.extra, [{ ip: server.v6, port: 7001, text: "poke" }]);
    }
    await assertGone(namespaces);
  },
});

Deno.test({
  name: "Lab gives a symmetric site a port per destination and a cgnat site the ISP's address",
  ignore,
  fn: async () => {
    let namespaces: readonly string[] = [];
    {
      await using lab = await Lab.create({ a: "symmetric", b: "cgnat", ipv6: false });
      namespaces = lab.namespaces;
      assert.equal(lab.namespaces.length, 6);
      await using _server = await startServer(lab, [7001, 7002]);
      const { server, hostA, hostB } = lab;
      const send = [7001, 7002].map((port) => ({ host: server.v4, port, msg: "who" }));

      const symmetric = await ask(lab, "a", { bind: "0.0.0.0", port: 40010, send });
      const [first, second] = symmetric.replies;
      assert.equal(first?.ip, hostA.router.wanV4);
      assert.equal(second?.ip, hostA.router.wanV4);
      assert.notEqual(first?.port, second?.port, "symmetric NAT reused a port");

      const cgnat = await ask(lab, "b", { bind: "0.0.0.0", port: 40011, send });
      assert.ok(hostB.isp);
      assert.equal(hostB.publicV4, hostB.isp.wanV4);
      assert.deepEqual(cgnat.replies, [
        { ip: hostB.isp.wanV4, port: 40011 },
        { ip: hostB.isp.wanV4, port: 40011 },
      ]);
      const ispView = await lab.exec("ispB", ["ip", "-4", "addr", "show", "dev", "lan"], {
        check: true,
      });
      assert.match(ispView.stdout, /100\.64\.2\.1\/24/);

      const v6 = await lab.exec("a", ["ip", "-6", "addr", "show", "scope", "global"]);
      assert.equal(v6.stdout.trim(), "", "IPv6 should be off");
      assert.throws(() => lab.nsOf("ispA"), RangeError);
    }
    await assertGone(namespaces);
  },
});

Deno.test({
  name: "Lab refuses a taken prefix, reopens a lab, and destroy() leaves nothing behind",
  ignore,
  fn: async () => {
    const lab = await Lab.create({ a: "cgnat", b: "none", ipv6: false });
    try {
      await assert.rejects(Lab.create({ prefix: lab.prefix }), LabExistsError);
      const reopened = await Lab.open(lab.prefix);
      assert.equal(reopened?.hostA.kind, "cgnat");
      assert.equal(reopened?.hostB.kind, "none");
      assert.equal(reopened?.ipv6, false);
      const sleeper = lab.spawn("a", ["sleep", "60"]);
      assert.ok(sleeper.pid > 0);
      await lab.destroy();
      assert.notEqual(sleeper.exitStatus, null, "destroy() should stop spawned processes");
      assert.equal(lab.destroyed, true);
      assert.throws(() => lab.spawn("a", ["true"]), /destroyed/);
    } finally {
      await lab.destroy();
    }
    await assertGone(lab.namespaces);
    assert.equal(await Lab.open(lab.prefix), null);
  },
});

Deno.test("LabProcess reads lines, explains early exits and stops what it started", async () => {
  {
    await using proc = LabProcess.spawn(null, ["sh", "-c", "echo one; echo two >&2; exit 3"]);
    assert.equal(await proc.readLine(), "one");
    const error = await proc.waitForLine(/never/).catch((e) => e);
    assert.ok(error instanceof LabProcessError);
    assert.match(error.message, /exited with code 3 .*\n?.*two/s);
    assert.equal((await proc.status).code, 3);
  }
  {
    await using proc = LabProcess.spawn(null, ["sleep", "30"]);
    await assert.rejects(proc.readLine({ timeoutMs: 50 }), /Timed out after 50 ms/);
    const status = await proc.stop({ graceMs: 1000 });
    assert.equal(status.signal, "SIGTERM");
  }
  {
    // The shell exits at once, but the sleep it started keeps stdout open.
    const proc = LabProcess.spawn(null, ["sh", "-c", "sleep 3 & echo started"]);
    assert.equal(await proc.readLine(), "started");
    const start = Date.now();
    await proc.stop({ graceMs: 100 });
    assert.ok(Date.now() - start < 2500, "stop() waited for the grandchild");
  }
  {
    await using proc = LabProcess.spawn(null, ["cat"], { stdin: true });
    await proc.write("echoed\n");
    assert.equal(await proc.readLine({ timeoutMs: 5000 }), "echoed");
    await proc.closeStdin();
    assert.equal(await proc.readLine({ timeoutMs: 5000 }), null);
  }
});
