/**
 * Every error case of the broker: a typed error with a clear message on the side that waits,
 * and no state left in the broker afterwards.
 */

import assert from "node:assert/strict";
import {
  type BrokerReceiverEvent,
  BrokerRefusedError,
  BrokerStepTimeoutError,
  BrokerUnreachableError,
  BrokerVersionMismatchError,
  dialBroker,
  listenBroker,
  ReceiverBusyError,
  ReceiverGoneError,
  SenderGoneError,
  UidHeldError,
  UidReplacedError,
  UnknownUidError,
} from "../client/broker.ts";
import { encodeFrame } from "../framing/length_prefixed.ts";
import { brokerEmpty, RawBroker, startBroker } from "./broker_helpers.ts";

const encoder = new TextEncoder();

/** A registered raw receiver. */
async function rawReceiver(port: number, uid: string, secret?: string): Promise<RawBroker> {
  const raw = await RawBroker.connect(port);
  await raw.send({ type: "register", uid, ...(secret ? { secret } : {}) });
  await raw.expect("registered");
  return raw;
}

Deno.test("broker errors: an unknown UID", async () => {
  await using fx = await startBroker();
  const error = await dialBroker({ server: fx.address, uid: "nobody" }).catch((e) => e);
  assert.ok(error instanceof UnknownUidError, String(error));
  assert.equal(error.code, "unknown_uid");
  assert.match(error.message, /No receiver is registered as "nobody"/);
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: busy (the broker's limit), then the pending one times out at step 3", async () => {
  await using fx = await startBroker({ maxPendingPerReceiver: 1, stepTimeoutMs: 300 });
  using receiver = await rawReceiver(fx.port, "alice"); // never answers a request
  const first = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  await receiver.expect("request");
  const busy = await dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  assert.ok(busy instanceof ReceiverBusyError, String(busy));
  assert.match(busy.message, /"alice" is busy/);
  const timeout = await first;
  assert.ok(timeout instanceof BrokerStepTimeoutError, String(timeout));
  assert.equal(timeout.step, 3);
  assert.match(timeout.message, /step 3/);
  // The receiver is told the request is over.
  assert.equal((await receiver.expect("abort")).error, "timeout");
  receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: busy (the receiver declines)", async () => {
  await using fx = await startBroker();
  using receiver = await rawReceiver(fx.port, "alice");
  const dialing = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  const request = await receiver.expect("request");
  await receiver.send({ type: "decline", req: request.req });
  const error = await dialing;
  assert.ok(error instanceof ReceiverBusyError, String(error));
  receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: the library receiver declines above maxPending", async () => {
  await using fx = await startBroker();
  await using receiver = await listenBroker({ server: fx.address, uid: "alice", maxPending: 1 });
  const first = await dialBroker({ server: fx.address, uid: "alice" }); // queued, not taken
  const error = await dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  assert.ok(error instanceof ReceiverBusyError, String(error));
  const taken = await receiver.accept();
  assert.equal(taken.requestId, first.requestId);
  first.close();
  taken.close();
  await receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: the receiver goes away before step 3", async () => {
  await using fx = await startBroker();
  const receiver = await rawReceiver(fx.port, "alice");
  const dialing = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  await receiver.expect("request");
  receiver.close();
  const error = await dialing;
  assert.ok(error instanceof ReceiverGoneError, String(error));
  assert.match(error.message, /went away/);
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: the receiver goes away mid-flow (after step 4)", async () => {
  await using fx = await startBroker();
  const receiver = await rawReceiver(fx.port, "alice");
  const dialing = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  const request = await receiver.expect("request");
  using r1 = await RawBroker.connect(fx.port);
  await r1.send({ type: "accept", req: request.req, token: request.token });
  await r1.expect("sender");
  await receiver.send({ type: "kill" });
  receiver.close();
  const error = await dialing;
  assert.ok(error instanceof ReceiverGoneError, String(error));
  assert.equal(await r1.recv(), null, "R1 should be closed by the broker");
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: the sender goes away mid-flow; the receiver gets SenderGoneError", async () => {
  await using fx = await startBroker();
  const failed = Promise.withResolvers<Error>();
  await using receiver = await listenBroker({
    server: fx.address,
    uid: "alice",
    onEvent: (e: BrokerReceiverEvent) => {
      if (e.kind === "failed") failed.resolve(e.error);
    },
  });
  const sender = await RawBroker.connect(fx.port);
  await sender.send({ type: "connect", uid: "alice" });
  // As soon as the receiver's step 3 arrives, the sender leaves.
  await fx.broker.waitFor((b) => b.steps(1)?.some((s) => s.step === 3) === true);
  sender.close();
  const error = await failed.promise;
  assert.ok(error instanceof SenderGoneError, String(error));
  assert.match(error.message, /sender of request 1 went away/);
  const record = await fx.broker.finished(1);
  assert.equal(record.error, "sender_gone");
  await receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: step 9 times out", async () => {
  await using fx = await startBroker({ stepTimeoutMs: 300 });
  using receiver = await rawReceiver(fx.port, "alice");
  const dialing = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  const request = await receiver.expect("request");
  const r1 = await RawBroker.connect(fx.port);
  await r1.send({ type: "accept", req: request.req, token: request.token });
  await r1.expect("sender");
  r1.close(); // step 5, then nothing
  const error = await dialing;
  assert.ok(error instanceof BrokerStepTimeoutError, String(error));
  assert.equal(error.step, 9);
  assert.match(error.message, /timed out at step 9/);
  assert.deepEqual(await receiver.expect("abort"), {
    type: "abort",
    req: request.req,
    error: "timeout",
  });
  receiver.close();
  await brokerEmpty(fx.broker);
  assert.deepEqual(fx.broker.history[0]!.steps.map((s) => s.step), [1, 2, 3, 4, 5, "failed"]);
});

Deno.test("broker errors: a wrong token or unknown request on step 3 or 9", async () => {
  await using fx = await startBroker({ stepTimeoutMs: 300 });
  using receiver = await rawReceiver(fx.port, "alice");
  const dialing = dialBroker({ server: fx.address, uid: "alice" }).catch((e) => e);
  const request = await receiver.expect("request");
  for (
    const msg of [
      { type: "accept", req: request.req, token: "0".repeat(32) },
      { type: "accept", req: request.req + 1000, token: request.token },
      { type: "punched", req: request.req, token: request.token, step6: "timeout" },
    ] as const
  ) {
    using raw = await RawBroker.connect(fx.port);
    await raw.send(msg);
    const reply = await raw.expect("error");
    assert.equal(reply.error, "unknown_request");
    assert.equal(await raw.recv(), null);
  }
  await dialing;
  receiver.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: version mismatch, both ways", async () => {
  await using fx = await startBroker();
  // A client of another version gets "version" and a close.
  using raw = await RawBroker.connect(fx.port);
  await raw.sendBytes(encodeFrame(encoder.encode('{"v":2,"type":"register","uid":"alice"}')));
  const reply = await raw.expect("error");
  assert.equal(reply.error, "version");
  assert.match(reply.message ?? "", /version 1, not 2/);
  assert.equal(await raw.recv(), null);
  await brokerEmpty(fx.broker);

  // A broker of another version: the client says so.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const fake = (async () => {
    for (
      const reply of ['{"v":2,"type":"registered"}', '{"v":2,"type":"error","error":"version"}']
    ) {
      using conn = await listener.accept();
      await conn.read(new Uint8Array(1024));
      await conn.write(encodeFrame(encoder.encode(reply)));
      await conn.read(new Uint8Array(1024)).catch(() => null);
    }
  })();
  const server = `127.0.0.1:${listener.addr.port}`;
  const a = await listenBroker({ server, uid: "alice" }).catch((e) => e);
  assert.ok(a instanceof BrokerVersionMismatchError, String(a));
  assert.match(a.message, /broker protocol version 2, this peerlink speaks 1/);
  const b = await dialBroker({ server, uid: "alice" }).catch((e) => e);
  assert.ok(b instanceof BrokerVersionMismatchError, String(b));
  await fake;
});

Deno.test("broker errors: a held UID needs its secret; with it, the new receiver replaces the old", async () => {
  await using fx = await startBroker();
  const first = await listenBroker({ server: fx.address, uid: "alice", secret: "s3cret" });
  for (const secret of [undefined, "wrong"]) {
    const error = await listenBroker({ server: fx.address, uid: "alice", secret }).catch((e) => e);
    assert.ok(error instanceof UidHeldError, String(error));
    assert.match(error.message, /"alice" is registered by another receiver/);
  }
  // A UID registered without a secret can never be taken over.
  const open = await listenBroker({ server: fx.address, uid: "bob" });
  const taken = await listenBroker({ server: fx.address, uid: "bob", secret: "x" }).catch((e) => e);
  assert.ok(taken instanceof UidHeldError);
  await open.close();
  // With the secret: the old receiver is told and ends.
  const ended = first.accept().catch((e) => e);
  const second = await listenBroker({ server: fx.address, uid: "alice", secret: "s3cret" });
  const error = await ended;
  assert.ok(error instanceof UidReplacedError, String(error));
  const [out, incoming] = await Promise.all([
    dialBroker({ server: fx.address, uid: "alice" }),
    second.accept(),
  ]);
  out.close();
  incoming.close();
  await first.close();
  await second.close();
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: malformed input is refused and closed", async () => {
  await using fx = await startBroker();
  const cases: [string, Uint8Array][] = [
    ["not JSON", encodeFrame(encoder.encode("hello"))],
    ["an oversized frame", new Uint8Array([0, 0, 0x10, 0])],
    ["a wrong first message", encodeFrame(encoder.encode('{"v":1,"type":"keepalive"}'))],
    ["a bad UID", encodeFrame(encoder.encode('{"v":1,"type":"register","uid":"a b"}'))],
  ];
  for (const [name, bytes] of cases) {
    using raw = await RawBroker.connect(fx.port);
    await raw.sendBytes(bytes);
    const reply = await raw.expect("error");
    assert.equal(reply.error, "bad_message", name);
    assert.equal(await raw.recv(), null, name);
  }
  // A registration that sends something it may not.
  using raw = await rawReceiver(fx.port, "alice");
  await raw.send({ type: "connect", uid: "alice" });
  assert.equal((await raw.expect("error")).error, "bad_message");
  assert.equal(await raw.recv(), null);
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: an unreachable broker", async () => {
  const port = (() => {
    using l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    return l.addr.port;
  })();
  const server = `127.0.0.1:${port}`;
  for (const attempt of [dialBroker({ server, uid: "a" }), listenBroker({ server, uid: "a" })]) {
    const error = await (attempt as Promise<unknown>).catch((e) => e);
    assert.ok(error instanceof BrokerUnreachableError, String(error));
    assert.match((error as Error).message, new RegExp(`Cannot reach the broker at ${server}`));
  }
});

Deno.test("broker errors: cancelling a dial or an accept", async () => {
  await using fx = await startBroker();
  using receiver = await rawReceiver(fx.port, "alice");
  const controller = new AbortController();
  const dialing = dialBroker({ server: fx.address, uid: "alice", signal: controller.signal })
    .catch((e) => e);
  await receiver.expect("request");
  controller.abort(new Error("changed my mind"));
  assert.equal((await dialing).message, "changed my mind");
  assert.equal((await receiver.expect("abort")).error, "sender_gone");
  receiver.close();

  await using lib = await listenBroker({ server: fx.address, uid: "carol" });
  const error = await lib.accept({ signal: AbortSignal.timeout(50) }).catch((e) => e);
  assert.equal(error.name, "TimeoutError");
  await lib.close();

  // The receiver's own signal stops it: the iteration ends, the UID is freed.
  const stop = new AbortController();
  const dave = await listenBroker({ server: fx.address, uid: "dave", signal: stop.signal });
  const iterating = (async () => {
    for await (const conn of dave) conn.close();
    return "ended";
  })();
  stop.abort();
  assert.equal(await iterating, "ended");
  await brokerEmpty(fx.broker);
});

Deno.test("broker errors: bad arguments are RangeErrors that name the value", async () => {
  await assert.rejects(() => dialBroker({ server: "127.0.0.1", uid: "a b" }), RangeError);
  await assert.rejects(() => listenBroker({ server: "127.0.0.1", uid: "" }), RangeError);
  await assert.rejects(
    () => listenBroker({ server: "127.0.0.1", uid: "a", keepAliveMs: 0 }),
    /keepAliveMs is 0/,
  );
  await assert.rejects(
    () => dialBroker({ server: "127.0.0.1", uid: "a", timeoutMs: -1 }),
    /timeoutMs is -1/,
  );
  assert.ok(new BrokerRefusedError("limit", "x").code === "limit");
});
