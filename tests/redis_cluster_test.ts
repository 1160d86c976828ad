/**
 * Two `server.ts` processes on one real Redis behave as one server: pairs split across them
 * complete a gday contact exchange, broker dials (the sender's, the receiver's step-3 and step-9
 * connections and the fallback landing on the other process) and mediator pairings. Then Redis
 * restarts under them: clients get clear errors, service resumes, nothing crashes; and an
 * expired room is not resurrected.
 */

import assert from "node:assert/strict";
import { listenBroker } from "../client/broker_receiver.ts";
import { dialBroker } from "../client/broker_sender.ts";
import { generateIdentity } from "../client/identity.ts";
import { registerWithMediator } from "../client/mediator.ts";
import { RawClient, type ServerProcess, spawnServer } from "./_helpers.ts";
import { RawBroker } from "./broker_helpers.ts";
import {
  eventually,
  type RedisServer,
  skipWithoutRedis,
  startRedisServer,
} from "./redis_helpers.ts";

const ignore = skipWithoutRedis();

interface Node {
  process: ServerProcess;
  gday: number;
  broker: number;
  mediator: number;
}

async function startNode(redis: RedisServer): Promise<Node> {
  const process = await spawnServer([
    "--host",
    "127.0.0.1",
    "--gday-port",
    "0",
    "--broker-port",
    "0",
    "--broker-step-timeout",
    "3",
    "--mediator-port",
    "0",
    "--mediator-wait",
    "10",
    "--room-ttl",
    "2",
    "--rate-limit",
    "0",
    "--redis",
    redis.url,
  ], 3);
  const port = (service: string): number => {
    const listener = process.listeners.find((l) => l.service === service);
    if (listener === undefined) throw new Error(`No ${service} listener`);
    return listener.port;
  };
  return { process, gday: port("gday"), broker: port("broker"), mediator: port("mediator") };
}

/** One gday exchange with the creator on `a` and the joiner on `b`, over raw frames. */
async function exchange(a: Node, b: Node, code: number): Promise<void> {
  using creator = await RawClient.connect(a.gday);
  using joiner = await RawClient.connect(b.gday);
  assert.equal(await creator.request(`{"CreateRoom":{"room_code":${code}}}`), '"RoomCreated"');
  const sendAddr = (creatorSide: boolean, priv: string): string =>
    `{"SendAddr":{"room_code":${code},"is_creator":${creatorSide},"private_addr":"${priv}"}}`;
  assert.equal(await creator.request(sendAddr(true, "10.0.0.1:1111")), '"ReceivedAddr"');
  assert.equal(await joiner.request(sendAddr(false, "10.0.0.2:2222")), '"ReceivedAddr"');
  assert.match(
    (await creator.request(`{"DoneSending":{"room_code":${code},"is_creator":true}}`))!,
    /^\{"ClientContact"/,
  );
  const joinerOwn = await joiner.request(
    `{"DoneSending":{"room_code":${code},"is_creator":false}}`,
  );
  assert.match(joinerOwn!, /^\{"ClientContact"/);
  const joinerPeer = JSON.parse((await joiner.recv())!);
  const creatorPeer = JSON.parse((await creator.recv())!);
  // Each side learns the other's public address (as its own process saw it) and private one.
  assert.equal(creatorPeer.PeerContact.public.v4, `127.0.0.1:${joiner.localPort}`);
  assert.equal(creatorPeer.PeerContact.private.v4, "10.0.0.2:2222");
  assert.equal(joinerPeer.PeerContact.public.v4, `127.0.0.1:${creator.localPort}`);
  assert.equal(joinerPeer.PeerContact.private.v4, "10.0.0.1:1111");
}

function stillRunning(node: Node): Promise<boolean> {
  return Promise.race([
    node.process.child.status.then(() => false),
    new Promise<boolean>((r) => setTimeout(() => r(true), 50)),
  ]);
}

Deno.test({
  name: "two server processes on one Redis act as one server",
  ignore,
  async fn(t) {
    await using redis = await startRedisServer();
    const n1 = await startNode(redis);
    await using p1 = n1.process;
    const n2 = await startNode(redis);
    await using p2 = n2.process;

    await t.step("gday: a room created on process 1 is joined on process 2", async () => {
      await exchange(n1, n2, 4242);
      await exchange(n2, n1, 4243);
      // Two processes creating the same code: one wins.
      using x = await RawClient.connect(n1.gday);
      using y = await RawClient.connect(n2.gday);
      const replies = await Promise.all([
        x.request('{"CreateRoom":{"room_code":777}}'),
        y.request('{"CreateRoom":{"room_code":777}}'),
      ]);
      assert.deepEqual(replies.sort(), ['"ErrorRoomTaken"', '"RoomCreated"']);
    });

    await t.step(
      "gday: a waiter hears at once when its peer leaves on the other process",
      async () => {
        using creator = await RawClient.connect(n1.gday);
        const joiner = await RawClient.connect(n2.gday);
        await creator.request('{"CreateRoom":{"room_code":55}}');
        await joiner.request(
          '{"SendAddr":{"room_code":55,"is_creator":false,"private_addr":null}}',
        );
        assert.match(
          (await creator.request('{"DoneSending":{"room_code":55,"is_creator":true}}'))!,
          /ClientContact/,
        );
        joiner.close();
        assert.equal(await creator.recv(), '"ErrorPeerTimedOut"');
      },
    );

    await t.step("broker: receiver on process 1, sender dials via process 2", async () => {
      await using receiver = await listenBroker({ server: `127.0.0.1:${n1.broker}`, uid: "alice" });
      assert.ok(receiver.registered);
      const [out, incoming] = await Promise.all([
        dialBroker({ server: `127.0.0.1:${n2.broker}`, uid: "alice" }),
        receiver.accept(),
      ]);
      assert.equal(out.via, "twelve-step");
      assert.equal(out.requestId, incoming.requestId);
      const writer = out.writable.getWriter();
      await writer.write(new TextEncoder().encode("hello across processes"));
      await writer.close();
      const reader = incoming.readable.getReader();
      const { value } = await reader.read();
      assert.equal(new TextDecoder().decode(value), "hello across processes");
      reader.releaseLock();
      out.close();
      incoming.close();
      // A name held on process 1 cannot be taken on process 2 without its secret.
      using thief = await RawBroker.connect(n2.broker);
      await thief.send({ type: "register", uid: "alice" });
      const refused = await thief.expect("error");
      assert.equal(refused.error, "uid_held");
    });

    await t.step("broker: steps 3, 9 and the fallback land on the other process", async () => {
      using registration = await RawBroker.connect(n1.broker);
      await registration.send({ type: "register", uid: "raw", secret: "s3cret" });
      await registration.expect("registered");
      using sender = await RawBroker.connect(n2.broker);
      await sender.send({ type: "connect", uid: "raw" });
      const request = await registration.expect("request");
      // Step 3 on process 2: tunnelled to process 1, which runs the request.
      const r1 = await RawBroker.connect(n2.broker);
      await r1.send({ type: "accept", req: request.req, token: request.token });
      const told = await r1.expect("sender");
      assert.equal(told.addr.port, sender.localPort);
      assert.equal(told.you.port, r1.localPort);
      const r1Port = r1.localPort;
      r1.close(); // step 5
      // Step 9 on process 2 too.
      using r2 = await RawBroker.connect(n2.broker);
      await r2.send({ type: "punched", req: request.req, token: request.token, step6: "timeout" });
      const receiver = await sender.expect("receiver");
      assert.equal(receiver.addr.port, r1Port);
      assert.equal(await sender.recv(), null); // step 11: S1 closed by the broker
      // Step 12 failed: the fallback, on process 2.
      using s2 = await RawBroker.connect(n2.broker);
      await s2.send({
        type: "fallback",
        req: request.req,
        token: request.token,
        step12: "timeout",
      });
      const start = await registration.expect("fallback_start");
      assert.equal(start.addr.port, s2.localPort);
      const ready = await s2.expect("fallback_ready");
      assert.equal(ready.addr.port, r1Port);
      await registration.send({ type: "done", req: request.req, via: "simultaneous-open" });
      await p1.log.waitFor(
        (l) => l.includes('"event":"broker_request"') && l.includes('"via":"simultaneous-open"'),
        5000,
      );
      // A wrong token is refused, from either process.
      using bad = await RawBroker.connect(n2.broker);
      await bad.send({ type: "accept", req: request.req, token: "0".repeat(32) });
      assert.equal((await bad.expect("error")).error, "unknown_request");
    });

    await t.step("mediator: peers on different processes are paired", async () => {
      const [alice, bob] = await Promise.all([generateIdentity(), generateIdentity()]);
      const [a, b] = await Promise.all([
        registerWithMediator({
          identity: alice,
          peer: bob.text,
          mediator: `127.0.0.1:${n1.mediator}`,
          families: ["v4"],
        }),
        registerWithMediator({
          identity: bob,
          peer: alice.text,
          mediator: `127.0.0.1:${n2.mediator}`,
          families: ["v4"],
        }),
      ]);
      try {
        assert.equal(a.peer.public.v4?.port, b.observed.port);
        assert.equal(b.peer.public.v4?.port, a.observed.port);
      } finally {
        a.close();
        b.close();
      }
    });

    await t.step("an expired room is not resurrected", async () => {
      using creator = await RawClient.connect(n1.gday);
      assert.equal(await creator.request('{"CreateRoom":{"room_code":9001}}'), '"RoomCreated"');
      await new Promise((r) => setTimeout(r, 2300)); // --room-ttl 2
      using late = await RawClient.connect(n2.gday);
      const sendAddr = '{"SendAddr":{"room_code":9001,"is_creator":false,"private_addr":null}}';
      assert.equal(await late.request(sendAddr), '"ErrorNoSuchRoomID"');
      assert.equal(
        await late.request('{"DoneSending":{"room_code":9001,"is_creator":false}}'),
        '"ErrorNoSuchRoomID"',
      );
      assert.equal(await late.request(sendAddr), '"ErrorNoSuchRoomID"');
    });

    await t.step("Redis restarts: clear errors, then service resumes, no crash", async () => {
      using waiter = await RawClient.connect(n2.gday);
      await waiter.request('{"CreateRoom":{"room_code":31}}');
      assert.match(
        (await waiter.request('{"DoneSending":{"room_code":31,"is_creator":true}}'))!,
        /ClientContact/,
      );
      await redis.stop();
      // The waiting client is told at once; new requests get ErrorInternal ("try later").
      assert.equal(await waiter.recv(), '"ErrorInternal"');
      using during = await RawClient.connect(n1.gday);
      assert.equal(await during.request('{"CreateRoom":{"room_code":32}}'), '"ErrorInternal"');
      using bsender = await RawBroker.connect(n2.broker);
      await bsender.send({ type: "connect", uid: "nobody" });
      assert.equal((await bsender.expect("error")).error, "busy");
      await p1.log.waitFor((l) => l.includes('"event":"redis_unavailable"'), 5000);

      await redis.start();
      await p1.log.waitFor((l) => l.includes('"event":"redis_reconnected"'), 10000);
      await p2.log.waitFor((l) => l.includes('"event":"redis_reconnected"'), 10000);
      // The same connection is served again after the error.
      await eventually(
        async () => (await during.request('{"CreateRoom":{"room_code":33}}')) === '"RoomCreated"',
        5000,
        "CreateRoom to work again",
      );
      await exchange(n2, n1, 34);
      assert.ok(await stillRunning(n1) && await stillRunning(n2), "A server process died");
    });

    // Both stop cleanly.
    assert.equal((await p1.stop()).code, 0);
    assert.equal((await p2.stop()).code, 0);
  },
});
