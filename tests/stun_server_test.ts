import assert from "node:assert/strict";
import { deadline } from "../async/deadline.ts";
import { natReport } from "../client/nat.ts";
import {
  decodeStunMessage,
  encodeStunMessage,
  getStunAttribute,
  STUN_METHOD_BINDING,
  type StunAttribute,
  type StunMessage,
} from "../protocol/stun.ts";
import { formatSocketAddr, type SocketAddr } from "../protocol/socket_addr.ts";
import { silentLogger } from "../server/logger.ts";
import { type PeerlinkServer, startServer } from "../server/server.ts";
import {
  answerStunDatagram,
  type StunLayout,
  stunPlugin,
  type StunServiceOptions,
} from "../server/services/stun.ts";

const REPLY_TIMEOUT_MS = 5000;
const RFC5769_REQUEST = Uint8Array.fromHex(
  "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e207465737420636c69656e74" +
    "002400046e0001ff80290008932ff9b151263b36000600096576746a3a68367659202020" +
    "000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a280280004e57a3bcf",
);

function request(attributes: StunAttribute[] = [], id = new Uint8Array(12).fill(1)): Uint8Array {
  return encodeStunMessage({
    class: "request",
    method: STUN_METHOD_BINDING,
    transactionId: id,
    attributes,
    fingerprint: true,
  });
}

function addr(message: StunMessage, type: "RESPONSE-ORIGIN" | "OTHER-ADDRESS"): string {
  const found = getStunAttribute(message, type);
  assert.ok(found, `no ${type}`);
  return formatSocketAddr(found.address);
}

async function startStun(
  hostname: string,
  options: StunServiceOptions = {},
): Promise<{ server: PeerlinkServer; port: number; altPort: number }> {
  const server = await startServer({
    hostname,
    gdayPort: null,
    logger: silentLogger,
    services: [stunPlugin({ port: 0, altPort: 0, ...options })],
  });
  const [primary, alternate] = server.listeners;
  assert.equal(primary?.service, "stun");
  return { server, port: primary!.addr.port, altPort: alternate!.addr.port };
}

async function exchange(
  socket: Deno.DatagramConn,
  bytes: Uint8Array,
  hostname: string,
  port: number,
): Promise<{ message: StunMessage; from: Deno.NetAddr }> {
  await socket.send(bytes, { transport: "udp", hostname, port });
  const [data, from] = await deadline(socket.receive(), REPLY_TIMEOUT_MS);
  return { message: decodeStunMessage(data), from: from as Deno.NetAddr };
}

/** A UDP socket closed by `using`. */
function udp(hostname: string): Deno.DatagramConn & Disposable {
  const socket = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  return Object.assign(socket, {
    [Symbol.dispose]: () => {
      try {
        socket.close();
      } catch { /* closed */ }
    },
  });
}

function freePorts(hosts: string[]): number {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const sockets: Deno.DatagramConn[] = [];
    try {
      for (const hostname of hosts) {
        for (const p of [port, port + 1]) {
          sockets.push(Deno.listenDatagram({ transport: "udp", hostname, port: p }));
        }
      }
      return port;
    } catch {
      continue;
    } finally {
      for (const socket of sockets) socket.close();
    }
  }
  throw new Error("No two free UDP ports");
}

async function available(program: string): Promise<boolean> {
  try {
    const out = await new Deno.Command("sh", {
      args: ["-c", `command -v ${program}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** Run a program with a time bound; resolves with its output. */
async function run(argv: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const result = await new Deno.Command(argv[0]!, {
      args: argv.slice(1),
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    return {
      code: result.code,
      out: decoder.decode(result.stdout) + decoder.decode(result.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

const CLIENT_V4: SocketAddr = { family: "v4", ip: "203.0.113.9", port: 40000 };
const LAYOUT: StunLayout = { host: "192.0.2.1", altHost: "192.0.2.2", ports: [3478, 3479] };

Deno.test("answerStunDatagram() picks the source and addresses of RFC 5780 Table 1", () => {
  const answer = (
    attributes: StunAttribute[],
    arrival: { ip: 0 | 1; port: 0 | 1 } = { ip: 0, port: 0 },
    layout = LAYOUT,
    client: SocketAddr = CLIENT_V4,
  ) => {
    const result = answerStunDatagram(request(attributes), client, arrival, layout);
    assert.equal(result.kind, "reply");
    if (result.kind !== "reply") throw new Error("Dropped");
    return { ...result, message: decodeStunMessage(result.bytes) };
  };
  const change = (changeIp: boolean, changePort: boolean): StunAttribute[] => [
    { type: "CHANGE-REQUEST", changeIp, changePort },
  ];

  const plain = answer([]);
  assert.deepEqual(plain.via, { ip: 0, port: 0 });
  assert.equal(plain.port, 40000);
  assert.equal(plain.message.class, "success");
  assert.equal(plain.message.fingerprint, true);
  assert.deepEqual(getStunAttribute(plain.message, "XOR-MAPPED-ADDRESS")?.address, CLIENT_V4);
  assert.deepEqual(getStunAttribute(plain.message, "MAPPED-ADDRESS")?.address, CLIENT_V4);
  assert.equal(addr(plain.message, "RESPONSE-ORIGIN"), "192.0.2.1:3478");
  assert.equal(addr(plain.message, "OTHER-ADDRESS"), "192.0.2.2:3479");
  assert.equal(getStunAttribute(plain.message, "SOFTWARE")?.text, "peerlink");

  const port = answer(change(false, true));
  assert.deepEqual(port.via, { ip: 0, port: 1 });
  assert.equal(addr(port.message, "RESPONSE-ORIGIN"), "192.0.2.1:3479");

  const both = answer(change(true, true));
  assert.deepEqual(both.via, { ip: 1, port: 1 });
  assert.equal(addr(both.message, "RESPONSE-ORIGIN"), "192.0.2.2:3479");

  const fromAlt = answer(change(false, true), { ip: 1, port: 1 });
  assert.deepEqual(fromAlt.via, { ip: 1, port: 0 });
  assert.equal(addr(fromAlt.message, "RESPONSE-ORIGIN"), "192.0.2.2:3478");
  assert.equal(addr(fromAlt.message, "OTHER-ADDRESS"), "192.0.2.1:3478");

  // One IP: change-IP is answered from the same IP, and OTHER-ADDRESS shows that IP.
  const single = { ...LAYOUT, altHost: null };
  const noAlt = answer(change(true, true), { ip: 0, port: 0 }, single);
  assert.deepEqual(noAlt.via, { ip: 0, port: 1 });
  assert.equal(addr(noAlt.message, "OTHER-ADDRESS"), "192.0.2.1:3479");

  // A wildcard-bound server does not know its address: the unspecified one of the client's family.
  const wildcard = { host: "::", altHost: null, ports: [3478, 3479] as const };
  assert.equal(addr(answer([], undefined, wildcard).message, "RESPONSE-ORIGIN"), "0.0.0.0:3478");
  const v6: SocketAddr = { family: "v6", ip: "2001:db8::9", port: 5, scopeId: 0 };
  const six = answer([], undefined, wildcard, v6);
  assert.equal(addr(six.message, "OTHER-ADDRESS"), "[::]:3479");
  assert.deepEqual(getStunAttribute(six.message, "XOR-MAPPED-ADDRESS")?.address, v6);

  // RESPONSE-PORT and PADDING (RFC 5780 §7.5, §7.6).
  assert.equal(answer([{ type: "RESPONSE-PORT", port: 40001 }]).port, 40001);
  const padded = answer([{ type: "PADDING", length: 1500 }]);
  assert.equal(getStunAttribute(padded.message, "PADDING")?.length, 1500);
  assert.ok(padded.bytes.length < request([{ type: "PADDING", length: 1500 }]).length + 120);
});

Deno.test("answerStunDatagram() answers errors and drops what is not a request", () => {
  const layout = LAYOUT;
  const arrival = { ip: 0, port: 0 } as const;
  const error = (bytes: Uint8Array): StunMessage => {
    const result = answerStunDatagram(bytes, CLIENT_V4, arrival, layout);
    assert.equal(result.kind, "reply");
    if (result.kind !== "reply") throw new Error("Dropped");
    assert.equal(result.class, "error");
    const message = decodeStunMessage(result.bytes);
    assert.equal(message.class, "error");
    return message;
  };
  // RFC 5769's sample request carries PRIORITY, USERNAME and MESSAGE-INTEGRITY: 420.
  const unknown = error(RFC5769_REQUEST);
  assert.equal(getStunAttribute(unknown, "ERROR-CODE")?.code, 420);
  assert.deepEqual(getStunAttribute(unknown, "UNKNOWN-ATTRIBUTES")?.types, [0x24, 0x06, 0x08]);
  assert.equal(unknown.transactionId.toHex(), "b7e7a701bc34d686fa87dfae");
  const both = error(request([{ type: "RESPONSE-PORT", port: 1 }, { type: "PADDING", length: 4 }]));
  assert.equal(getStunAttribute(both, "ERROR-CODE")?.code, 400);
  const allocate = encodeStunMessage({
    class: "request",
    method: 0x003,
    transactionId: new Uint8Array(12),
    attributes: [],
  });
  assert.equal(getStunAttribute(error(allocate), "ERROR-CODE")?.code, 400);

  const drop = (bytes: Uint8Array): string => {
    const result = answerStunDatagram(bytes, CLIENT_V4, arrival, layout);
    assert.equal(result.kind, "drop");
    return result.kind === "drop" ? result.reason : "";
  };
  const response = encodeStunMessage({
    class: "success",
    method: 1,
    transactionId: new Uint8Array(12),
    attributes: [],
  });
  assert.equal(drop(response), "not-request");
  assert.equal(drop(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "not-stun");
  assert.equal(drop(new Uint8Array(4)), "truncated");
  const broken = request();
  broken[broken.length - 1] = broken.at(-1)! ^ 0xff;
  assert.equal(drop(broken), "bad-fingerprint");

  // RFC 3489 (no cookie): MAPPED-ADDRESS, SOURCE-ADDRESS, CHANGED-ADDRESS, the 16-byte id kept.
  const classic = Uint8Array.fromHex("0001000801dcac12ce62bf0d127d5a391900a6770003000400000002");
  const result = answerStunDatagram(classic, CLIENT_V4, arrival, layout);
  assert.equal(result.kind, "reply");
  if (result.kind !== "reply") return;
  assert.deepEqual(result.via, { ip: 0, port: 1 });
  const old = decodeStunMessage(result.bytes, { allowRfc3489: true });
  assert.equal(old.transactionId.toHex(), "01dcac12ce62bf0d127d5a391900a677");
  assert.equal(old.fingerprint, false);
  assert.deepEqual(old.attributes.map((a) => a.type), [
    "MAPPED-ADDRESS",
    "SOURCE-ADDRESS",
    "CHANGED-ADDRESS",
  ]);
  assert.equal(
    formatSocketAddr(getStunAttribute(old, "SOURCE-ADDRESS")!.address),
    "192.0.2.1:3479",
  );
});

Deno.test("stun service: natReport() over IPv4 and IPv6 loopback sees no NAT", async () => {
  const { server, port, altPort } = await startStun("::");
  try {
    const report = await natReport({ server: `localhost:${port}` });
    for (const [family, ip] of [["v4", "127.0.0.1"], ["v6", "::1"]] as const) {
      const seen = report[family];
      assert.ok(seen, family);
      assert.equal(seen.public?.ip, ip, seen.summary);
      assert.equal(seen.public?.port, seen.local?.port);
      assert.equal(seen.nat, false);
      assert.equal(seen.mapping, "endpoint-independent");
      assert.equal(seen.filtering, "endpoint-independent-or-address-dependent");
      assert.equal(seen.otherAddress?.port, altPort);
      assert.equal(seen.changeIp, false);
      assert.equal(seen.software, "peerlink");
      assert.equal(seen.verdict, "no-nat");
    }
    assert.equal(report.verdict, "no-nat");
    assert.ok(server.counters.get("stun_requests", "binding") >= 6);
  } finally {
    await server.close();
  }
});

Deno.test("stun service: 1000 malformed datagrams are dropped and counted, never fatal", async () => {
  const { server, port } = await startStun("127.0.0.1", { requestsPerMinute: 0 });
  try {
    using client = udp("127.0.0.1");
    const valid = request();
    const malformed = (i: number): Uint8Array => {
      const bytes = request(
        [{ type: "SOFTWARE", text: `n${i}` }],
        crypto.getRandomValues(
          new Uint8Array(12),
        ),
      );
      switch (i % 8) {
        case 0:
          return crypto.getRandomValues(new Uint8Array(1 + (i % 19))); // truncated
        case 1:
          bytes[0] = 0xc0 | bytes[0]!; // not STUN
          return bytes;
        case 2:
          bytes[4] = bytes[4]! ^ 0xff; // no cookie, bad fingerprint
          return bytes;
        case 3:
          bytes[3] = bytes[3]! + 4; // longer than the datagram
          return bytes;
        case 4:
          return bytes.subarray(0, bytes.length - 2); // shorter than its length
        case 5:
          bytes[bytes.length - 1] = bytes.at(-1)! ^ 0x55; // bad fingerprint
          return bytes;
        case 6:
          bytes[22] = 0xff; // attribute runs past the end
          return bytes;
        default:
          return new Uint8Array(2100); // too large
      }
    };
    let sent = 0;
    for (let batch = 0; batch < 10; batch++) {
      for (let i = 0; i < 100; i++) {
        await client.send(malformed(sent++), { transport: "udp", hostname: "127.0.0.1", port });
      }
      // The socket is served in order: the answer to this one comes after the batch was handled.
      const { message } = await exchange(client, valid, "127.0.0.1", port);
      assert.equal(message.class, "success");
    }
    const dropped = Object.entries(server.counters.snapshot())
      .filter(([name]) => name.startsWith("stun_dropped"))
      .reduce((sum, [, n]) => sum + n, 0);
    assert.equal(dropped, 1000);
    assert.equal(server.counters.get("stun_requests", "binding"), 10);
    assert.ok(server.counters.get("stun_dropped", "bad-fingerprint") > 0);
  } finally {
    await server.close();
  }
});

Deno.test("stun service: a client over its rate limit gets no answer", async () => {
  const { server, port } = await startStun("::", { requestsPerMinute: 3 });
  try {
    using v4 = udp("127.0.0.1");
    using v6 = udp("::1");
    for (let i = 0; i < 3; i++) {
      assert.equal((await exchange(v4, request(), "127.0.0.1", port)).message.class, "success");
    }
    const late = v4.receive();
    late.catch(() => {});
    await v4.send(request(), { transport: "udp", hostname: "127.0.0.1", port });
    // Another client (its own budget) on the same socket: answered after the fourth request.
    assert.equal((await exchange(v6, request(), "::1", port)).message.class, "success");
    assert.equal(server.counters.get("stun_rate_limited"), 1);
  } finally {
    await server.close();
  }
});

Deno.test("stun service: with --stun-alt-host, change-IP answers come from the second address", async () => {
  const port = freePorts(["127.0.0.1", "127.0.0.2"]);
  const { server } = await startStun("127.0.0.1", {
    port,
    altPort: port + 1,
    altHost: "127.0.0.2",
  });
  try {
    assert.equal(server.listeners.length, 2);
    using client = udp("127.0.0.1");
    const changed = await exchange(
      client,
      request([{ type: "CHANGE-REQUEST", changeIp: true, changePort: true }]),
      "127.0.0.1",
      port,
    );
    assert.equal(changed.from.hostname, "127.0.0.2");
    assert.equal(changed.from.port, port + 1);
    assert.equal(addr(changed.message, "RESPONSE-ORIGIN"), `127.0.0.2:${port + 1}`);
    assert.equal(addr(changed.message, "OTHER-ADDRESS"), `127.0.0.2:${port + 1}`);
    // A request to the alternate address itself: its "other" is the primary one.
    const alt = await exchange(client, request(), "127.0.0.2", port);
    assert.equal(addr(alt.message, "OTHER-ADDRESS"), `127.0.0.1:${port + 1}`);

    const report = await natReport({ server: `127.0.0.1:${port}`, families: ["v4"] });
    assert.equal(report.v4?.changeIp, true);
    assert.equal(report.v4?.filtering, "endpoint-independent");
    assert.equal(report.v4?.mapping, "endpoint-independent");
    assert.equal(report.verdict, "no-nat");
  } finally {
    await server.close();
  }
});

const turnutils = await available("turnutils_stunclient");
const stund = await available("stun");
if (!turnutils) {
  console.warn("turnutils_stunclient (Debian package coturn) is missing: its test is skipped");
}
if (!stund) console.warn("stun (Debian package stun-client) is missing: its test is skipped");

Deno.test({
  name: "stun service: coturn's turnutils_stunclient gets RFC 5780 answers over IPv4 and IPv6",
  ignore: !turnutils,
  fn: async () => {
    const { server, port, altPort } = await startStun("::");
    try {
      for (const host of ["127.0.0.1", "::1"]) {
        const { code, out } = await run(["turnutils_stunclient", "-p", String(port), host]);
        assert.equal(code, 0, out);
        // turnutils prints addresses as ip:port, IPv6 without brackets.
        const any = host === "::1" ? "::" : "0.0.0.0";
        assert.match(out, new RegExp(`UDP reflexive addr: ${host.replaceAll(".", "\\.")}:\\d+`));
        assert.ok(out.includes(`Response origin: : ${any}:${port}`), out);
        assert.ok(out.includes(`Other addr: : ${any}:${altPort}`), out);
        // Its follow-ups: change IP and port with RESPONSE-PORT, then with PADDING.
        assert.ok(out.includes("RFC 5780 response 3"), out);
        assert.ok(out.includes(`Response origin: : ${any}:${altPort}`), out);
        assert.ok(!out.includes("error"), out);
      }
    } finally {
      await server.close();
    }
  },
});

Deno.test({
  name: "stun service: Debian's stun client (RFC 3489) finds no NAT on loopback",
  ignore: !stund,
  fn: async () => {
    const { server, port, altPort } = await startStun("127.0.0.1");
    try {
      const { out } = await run(["stun", `127.0.0.1:${port}`, "-v"]);
      assert.match(out, /MappedAddress = 127\.0\.0\.1:\d+/);
      assert.ok(out.includes(`SourceAddress = 127.0.0.1:${port}`), out);
      assert.ok(out.includes(`ChangedAddress = 127.0.0.1:${altPort}`), out);
      assert.match(out, /test I = 1/);
      assert.match(out, /test II = 1/);
      assert.match(out, /test III = 1/);
      assert.match(out, /Primary: Open/);
      assert.equal(server.counters.get("stun_dropped", "bad-cookie"), 0);
    } finally {
      await server.close();
    }
  },
});
