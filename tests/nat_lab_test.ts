import assert from "node:assert/strict";
import { spawnLabServer } from "../lab/harness.ts";
import { Lab, type LabNode, type LabProcess, skipReason } from "../lab/mod.ts";

const reason = await skipReason();
if (reason !== null) console.warn(`NAT lab tests of client.ts nat are skipped: ${reason}`);
const ignore = reason !== null;

const ROOT = new URL("../", import.meta.url).pathname;
const DENO = Deno.execPath();
const STEP_TIMEOUT_MS = 30_000;

interface FamilyJson {
  public: string | null;
  local: string | null;
  nat: boolean | null;
  mapping: string;
  filtering: string;
  changeIp: boolean;
  verdict: string;
  summary: string;
}

/** `server.ts` in the lab's server namespace, stderr (the log) on stdout; waits for STUN. */
async function startServer(lab: Lab, args: string[], stunSockets: number): Promise<LabProcess> {
  const proc = spawnLabServer(lab, [
    "--gday-port",
    "0",
    "--no-relay",
    ...args,
  ]);
  for (let i = 0; i < stunSockets; i++) {
    await proc.waitForLine(/"event":"listening","service":"stun"/, { timeoutMs: STEP_TIMEOUT_MS });
  }
  return proc;
}

/** Run `client.ts nat --json` on a lab host. */
async function nat(lab: Lab, node: LabNode, args: string[]): Promise<FamilyJson> {
  const result = await lab.exec(node, [
    DENO,
    "run",
    "-A",
    `${ROOT}client.ts`,
    "nat",
    "--json",
    ...args,
  ], {
    cwd: ROOT,
    timeoutMs: STEP_TIMEOUT_MS,
  });
  assert.equal(result.code, 0, `${node} ${args.join(" ")}: ${result.stderr}${result.stdout}`);
  const report = JSON.parse(result.stdout);
  const family = args.includes("-6") ? report.v6 : report.v4;
  assert.ok(family, result.stdout);
  return family;
}

/** Port-only (3478/3479) and change-IP (3480/3481, second address .11) servers, IPv4 and IPv6. */
async function startServers(lab: Lab): Promise<LabProcess[]> {
  const { server } = lab;
  const procs = [
    await startServer(lab, ["--host", server.v4], 2),
    await startServer(lab, [
      "--host",
      server.v4,
      "--stun-port",
      "3480",
      "--stun-alt-port",
      "3481",
      "--stun-alt-host",
      server.v4Alt,
    ], 4),
  ];
  if (server.v6 && server.v6Alt) {
    procs.push(await startServer(lab, ["--host", server.v6], 2));
    procs.push(
      await startServer(lab, [
        "--host",
        server.v6,
        "--stun-port",
        "3480",
        "--stun-alt-port",
        "3481",
        "--stun-alt-host",
        server.v6Alt,
      ], 4),
    );
  }
  return procs;
}

const portOf = (addr: string | null): string => addr?.slice(addr.lastIndexOf(":") + 1) ?? "";
const ipOf = (addr: string | null): string =>
  addr?.slice(0, addr.lastIndexOf(":")).replace(/^\[|\]$/g, "") ?? "";

Deno.test({
  name: "nat: in the lab, cone is endpoint-independent, symmetric endpoint-dependent",
  ignore,
  fn: async () => {
    await using lab = await Lab.create({ a: "cone", b: "symmetric" });
    const servers = await startServers(lab);
    try {
      const { server, hostA, hostB } = lab;
      const full = `${server.v4}:3480`;
      const [coneP, coneF, cone6, cone6F, symP, symF] = await Promise.all([
        nat(lab, "a", ["-4", "--server", server.v4]),
        nat(lab, "a", ["-4", "--server", full]),
        nat(lab, "a", ["-6", "--server", `[${server.v6}]`]),
        nat(lab, "a", ["-6", "--server", `[${server.v6}]:3480`]),
        nat(lab, "b", ["-4", "--server", server.v4]),
        nat(lab, "b", ["-4", "--server", full]),
      ]);

      // Cone: one public endpoint (the router's address, the same port) for every destination;
      // port-restricted filtering lets no answer in from another port.
      for (const cone of [coneP, coneF]) {
        assert.equal(ipOf(cone.public), hostA.publicV4, cone.summary);
        assert.equal(portOf(cone.public), portOf(cone.local), "cone NAT keeps the port");
        assert.equal(cone.nat, true);
        assert.equal(cone.mapping, "endpoint-independent");
        assert.equal(cone.filtering, "address-and-port-dependent");
        assert.equal(cone.verdict, "direct-likely");
      }
      assert.equal(coneP.changeIp, false);
      assert.equal(coneF.changeIp, true);

      // IPv6 is not translated, but the home router's firewall filters.
      for (const six of [cone6, cone6F]) {
        assert.equal(ipOf(six.public), hostA.v6, six.summary);
        assert.equal(six.nat, false);
        assert.equal(six.mapping, "endpoint-independent");
        assert.equal(six.filtering, "address-and-port-dependent");
        assert.equal(six.verdict, "no-nat");
        assert.match(six.summary, /firewall/);
      }
      assert.equal(cone6F.changeIp, true);

      // Symmetric: a new public port per destination.
      for (const sym of [symP, symF]) {
        assert.equal(ipOf(sym.public), hostB.publicV4, sym.summary);
        assert.equal(sym.nat, true);
        assert.equal(sym.mapping, "address-and-port-dependent");
        assert.equal(sym.filtering, "address-and-port-dependent");
        assert.equal(sym.verdict, "relay-for-symmetric-peers");
      }
    } finally {
      await Promise.allSettled(servers.map((proc) => proc.stop()));
    }
  },
});

Deno.test({
  name: "nat: in the lab, a host behind none has no NAT, behind cgnat a cone NAT",
  ignore,
  fn: async () => {
    await using lab = await Lab.create({ a: "none", b: "cgnat", ipv6: false });
    const servers = await startServers(lab);
    try {
      const { server, hostA, hostB } = lab;
      const [noneP, noneF, cgnat] = await Promise.all([
        nat(lab, "a", ["-4", "--server", server.v4]),
        nat(lab, "a", ["-4", "--server", `${server.v4}:3480`]),
        nat(lab, "b", ["-4", "--server", server.v4]),
      ]);
      for (const none of [noneP, noneF]) {
        assert.equal(none.public, `${hostA.v4}:${portOf(none.local)}`, none.summary);
        assert.equal(none.nat, false);
        assert.equal(none.mapping, "endpoint-independent");
        assert.equal(none.verdict, "no-nat");
      }
      // One server IP cannot tell endpoint-independent from address-dependent filtering; two can.
      assert.equal(noneP.filtering, "endpoint-independent-or-address-dependent");
      assert.equal(noneF.filtering, "endpoint-independent");
      assert.equal(noneF.changeIp, true);

      assert.equal(ipOf(cgnat.public), hostB.isp?.wanV4);
      assert.equal(cgnat.nat, true);
      assert.equal(cgnat.mapping, "endpoint-independent");
      assert.equal(cgnat.verdict, "direct-likely");
    } finally {
      await Promise.allSettled(servers.map((proc) => proc.stop()));
    }
  },
});
