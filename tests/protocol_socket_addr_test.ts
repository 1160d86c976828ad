import assert from "node:assert/strict";
import {
  formatIpv6,
  formatSocketAddr,
  parseIpv6,
  parseSocketAddr,
  parseSocketAddrV4,
  parseSocketAddrV6,
  toSocketAddr,
} from "../protocol/socket_addr.ts";

Deno.test("formatIpv6() prints RFC 5952 form as Rust does", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group is not compressed
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // the first run wins a tie
    ["FE80:0000:0000:0000:0202:B3FF:FE1E:8329", "fe80::202:b3ff:fe1e:8329"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"], // mapped
    ["::1.2.3.4", "::102:304"], // compatible (not mapped) prints as hex
    ["1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"],
    ["1:0:0:4:5:6:7:8", "1::4:5:6:7:8"],
    ["0:0:1:0:0:0:0:0", "0:0:1::"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(formatIpv6(parseIpv6(input)!), expected, input);
  }
});

Deno.test("parseIpv6() rejects what Rust rejects", () => {
  for (
    const bad of [
      "",
      ":",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "::g",
      "1::2::3",
      "::1.2.3",
      "1:2:3:4:5:6:7:1.2.3.4",
    ]
  ) {
    assert.equal(parseIpv6(bad), null, bad);
  }
});

Deno.test("parseSocketAddrV4() and parseSocketAddrV6() only accept their own form", () => {
  assert.deepEqual(parseSocketAddrV4("1.2.3.4:0"), { family: "v4", ip: "1.2.3.4", port: 0 });
  assert.deepEqual(parseSocketAddrV6("[::1%42]:65535"), {
    family: "v6",
    ip: "::1",
    port: 65535,
    scopeId: 42,
  });
  for (
    const bad of [
      "1.2.3.4",
      "1.2.3.256:1",
      "01.2.3.4:1",
      "1.2.3.4:-1",
      "1.2.3.4: 1",
      "[::1]:1",
      "a:1",
    ]
  ) {
    assert.equal(parseSocketAddrV4(bad), null, bad);
  }
  for (
    const bad of [
      "::1:1",
      "[::1]",
      "[::1]:",
      "[::1]:99999",
      "[1.2.3.4]:1",
      "[::1%x]:1",
      "[::1]:1:2",
    ]
  ) {
    assert.equal(parseSocketAddrV6(bad), null, bad);
  }
});

Deno.test("formatSocketAddr() and parseSocketAddr() round-trip", () => {
  for (
    const text of [
      "31.31.65.31:324",
      "[2001:db8::1]:8080",
      "[fe80::1%2]:9",
      "[::ffff:203.0.113.7]:40000",
    ]
  ) {
    assert.equal(formatSocketAddr(parseSocketAddr(text)!), text);
  }
});

Deno.test("toSocketAddr() turns IPv4-mapped into IPv4 and canonicalises v6", () => {
  assert.deepEqual(toSocketAddr("::ffff:10.0.0.7", 5), { family: "v4", ip: "10.0.0.7", port: 5 });
  assert.deepEqual(toSocketAddr("[2001:DB8::0:1]", 5), {
    family: "v6",
    ip: "2001:db8::1",
    port: 5,
    scopeId: 0,
  });
  assert.deepEqual(toSocketAddr("fe80::1%7", 5), {
    family: "v6",
    ip: "fe80::1",
    port: 5,
    scopeId: 7,
  });
  assert.equal(toSocketAddr("localhost", 5), null);
  assert.equal(toSocketAddr("1.2.3.4", 70000), null);
});
