import assert from "node:assert/strict";
import { NoCandidatesError } from "../punch/errors.ts";
import { punchTcp } from "../punch/tcp.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";

const loopback = (port: number): SocketAddr => ({ family: "v4", ip: "127.0.0.1", port });

Deno.test("punchTcp() reports the first authentication failure, not the fallout after it", async () => {
  // A plain listener stands in for the peer: every attempt connects, and every connection
  // fails authentication. The first failure is the cause; later ones (the peer closing its
  // other connections once it gave up) would hide it.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) accepted.push(conn);
  })();
  let calls = 0;
  await assert.rejects(
    punchTcp({
      pairs: [{ local: loopback(0), remote: loopback(listener.addr.port), kind: "public" }],
      timeoutMs: 10_000,
      authenticate: () => Promise.reject(new Error(++calls === 1 ? "first" : "later")),
    }),
    (error: Error) => {
      assert.equal(error.message, "first");
      return true;
    },
  );
  assert.ok(calls >= 2, `only ${calls} connection formed: the test shows nothing`);
  listener.close();
  await accepting.catch(() => {});
  for (const conn of accepted) conn.close();
});

Deno.test("punchTcp() with no pairs fails at once with NoCandidatesError", async () => {
  await assert.rejects(
    punchTcp({ pairs: [], authenticate: () => Promise.resolve(0) }),
    NoCandidatesError,
  );
});
