import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  type Duplex,
  duplexPair,
  type DuplexPairOptions,
  gdayHandshake,
  gdayPassword,
  handshake,
  type SecureConnection,
} from "../secure/mod.ts";
import {
  ConnectionLostError,
  decodeTransferMessage,
  encodeTransferMessage,
  FileConflictError,
  HashMismatchError,
  PeerTransferError,
  prepareFiles,
  receiveFiles,
  type ReceiveOptions,
  sendFiles,
  type SendOptions,
  type SourceFile,
  type TransferEvent,
  type TransferMode,
  TransferProtocolError,
  TransferTimeoutError,
  UnsafePathError,
} from "../transfer/mod.ts";

const encoder = new TextEncoder();
const CODE = encoder.encode("0.A3F9C2.7D2E91B4.5");

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

async function tempDir(): Promise<string & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "peerlink-transfer-" });
  return Object.assign(dir, {
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  }) as unknown as string & AsyncDisposable;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function listParts(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(`${d}/${e.name}`);
      else if (e.name.endsWith(".part")) found.push(`${d}/${e.name}`);
    }
  };
  if (await exists(dir)) await walk(dir);
  return found;
}

/** A duplex whose writes and reads can be cut (as if its process died) or tampered with. */
function faulty(
  inner: Duplex,
  options: { killAfterBytes?: number; flipAtByte?: number },
): Duplex & { kill(): void; written: number } {
  let written = 0;
  let killed = false;
  const innerWriter = inner.writable.getWriter();
  const state = {
    get written() {
      return written;
    },
    kill() {
      if (killed) return;
      killed = true;
      innerWriter.abort(new Error("killed")).catch(() => {});
      inner.readable.cancel(new Error("killed")).catch(() => {});
    },
  };
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (killed) throw new Deno.errors.BrokenPipe("This side was killed");
      let data = chunk;
      const flip = options.flipAtByte;
      if (flip !== undefined && flip >= written && flip < written + chunk.length) {
        data = chunk.slice();
        data[flip - written]! ^= 0x01;
      }
      written += chunk.length;
      await innerWriter.write(data);
      if (options.killAfterBytes !== undefined && written >= options.killAfterBytes) state.kill();
    },
    close: () => innerWriter.close(),
    abort: (reason) => innerWriter.abort(reason),
  });
  return Object.assign(state, { readable: inner.readable, writable });
}

interface Pair {
  sender: SecureConnection;
  receiver: SecureConnection;
  rawSender: Duplex & { kill(): void; written: number };
  rawReceiver: Duplex & { kill(): void; written: number };
  [Symbol.asyncDispose](): Promise<void>;
}

async function securePair(
  mode: TransferMode,
  options: {
    pair?: DuplexPairOptions;
    sender?: { killAfterBytes?: number; flipAtByte?: number };
    receiver?: { killAfterBytes?: number };
  } = {},
): Promise<Pair> {
  const [left, right] = duplexPair(options.pair ?? { capacity: 256 * 1024 });
  const rawSender = faulty(left, options.sender ?? {});
  const rawReceiver = faulty(right, options.receiver ?? {});
  const [sender, receiver] = mode === "native"
    ? await Promise.all([handshake(rawSender, CODE), handshake(rawReceiver, CODE)])
    : await Promise.all([
      gdayHandshake(rawSender, gdayPassword(0x7d2e91b4n)),
      gdayHandshake(rawReceiver, gdayPassword(0x7d2e91b4n)),
    ]);
  return {
    sender,
    receiver,
    rawSender,
    rawReceiver,
    [Symbol.asyncDispose]: async () => {
      await Promise.all([sender.close(), receiver.close()]);
    },
  };
}

interface Run {
  sent: PromiseSettledResult<Awaited<ReturnType<typeof sendFiles>>>;
  got: PromiseSettledResult<Awaited<ReturnType<typeof receiveFiles>>>;
  sendEvents: TransferEvent[];
  receiveEvents: TransferEvent[];
}

async function transfer(
  pair: Pair,
  files: readonly SourceFile[],
  receive: ReceiveOptions,
  send: SendOptions = {},
): Promise<Run> {
  const sendEvents: TransferEvent[] = [];
  const receiveEvents: TransferEvent[] = [];
  const [sent, got] = await Promise.allSettled([
    sendFiles(pair.sender, files, { onEvent: (e) => sendEvents.push(e), ...send }),
    receiveFiles(pair.receiver, { onEvent: (e) => receiveEvents.push(e), ...receive }),
  ]);
  return { sent, got, sendEvents, receiveEvents };
}

function fulfilled<T>(result: PromiseSettledResult<T>): T {
  if (result.status === "rejected") throw result.reason;
  return result.value;
}

function rejected<T>(result: PromiseSettledResult<T>): unknown {
  assert.equal(result.status, "rejected", "expected a failure");
  return (result as PromiseRejectedResult).reason;
}

for (const mode of ["native", "gday"] as const) {
  Deno.test(`transfer (${mode}): a single file arrives intact, with events and no leftovers`, async () => {
    await using dir = await tempDir();
    const content = randomBytes(300_000);
    await Deno.writeFile(`${dir}/photo.jpg`, content);
    const { files } = await prepareFiles([`${dir}/photo.jpg`]);
    await using pair = await securePair(mode);
    const run = await transfer(pair, files, { dir: `${dir}/out`, mode }, { mode });
    const sent = fulfilled(run.sent);
    const got = fulfilled(run.got);
    assert.deepEqual(await Deno.readFile(`${dir}/out/photo.jpg`), content);
    assert.equal(sent.confirmed, mode === "native");
    assert.equal(sent.bytes, content.length);
    assert.equal(got.bytes, content.length);
    assert.deepEqual(got.files.map((f) => [f.path, f.status, f.offset, f.sha256]), [
      ["photo.jpg", "received", 0, sha256(content)],
    ]);
    assert.equal(got.files[0]!.verified, mode === "native");
    assert.equal(got.files[0]!.localPath, `${dir}/out/photo.jpg`);
    for (const events of [run.sendEvents, run.receiveEvents]) {
      assert.deepEqual(events[0], {
        kind: "plan",
        files: 1,
        transfers: 1,
        resumed: 0,
        total: content.length,
      });
      assert.equal(events[1]!.kind, "file-start");
      const last = events.findLast((e) => e.kind === "progress")!;
      assert.ok(last.kind === "progress" && last.overall.bytes === content.length);
      assert.equal(last.kind === "progress" && last.overall.etaSeconds, 0);
      assert.equal(events.at(-1)!.kind, "file-done");
    }
    assert.deepEqual(await listParts(`${dir}/out`), []);
  });

  Deno.test(`transfer (${mode}): a folder tree keeps its structure, empty files included`, async () => {
    await using dir = await tempDir();
    const tree: Record<string, Uint8Array> = {
      "album/a.txt": encoder.encode("alpha"),
      "album/empty.dat": new Uint8Array(0),
      "album/2024/ünï cödé 😀.bin": randomBytes(70_000),
      "album/2024/deep/er/z.txt": encoder.encode("zed"),
      "single.txt": encoder.encode("on its own"),
    };
    for (const [path, bytes] of Object.entries(tree)) {
      await Deno.mkdir(`${dir}/src/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(`${dir}/src/${path}`, bytes);
    }
    await Deno.chmod(`${dir}/src/album/a.txt`, 0o755);
    const mtime = new Date("2020-02-02T02:02:02Z");
    await Deno.utime(`${dir}/src/album/a.txt`, mtime, mtime);
    const { files } = await prepareFiles([`${dir}/src/album`, `${dir}/src/single.txt`]);
    assert.deepEqual(files.map((f) => f.path), [
      "album/2024/deep/er/z.txt",
      "album/2024/ünï cödé 😀.bin",
      "album/a.txt",
      "album/empty.dat",
      "single.txt",
    ]);
    await using pair = await securePair(mode, { pair: { randomSplitSeed: 7, chunkSize: 5000 } });
    const run = await transfer(pair, files, { dir: `${dir}/out`, mode }, { mode });
    fulfilled(run.sent);
    const got = fulfilled(run.got);
    assert.equal(got.files.length, 5);
    for (const [path, bytes] of Object.entries(tree)) {
      assert.deepEqual(await Deno.readFile(`${dir}/out/${path}`), bytes, path);
    }
    if (mode === "native") {
      const info = await Deno.stat(`${dir}/out/album/a.txt`);
      assert.equal(info.mode! & 0o100, 0o100, "executable bit kept");
      assert.equal(info.mtime!.getTime(), mtime.getTime());
    }
    assert.deepEqual(await listParts(`${dir}/out`), []);
  });

  Deno.test(`transfer (${mode}): zero files is a complete, empty transfer`, async () => {
    await using dir = await tempDir();
    await Deno.mkdir(`${dir}/nothing`);
    const { files } = await prepareFiles([`${dir}/nothing`]);
    assert.equal(files.length, 0);
    await using pair = await securePair(mode);
    const run = await transfer(pair, files, { dir: `${dir}/out`, mode }, { mode });
    assert.equal(fulfilled(run.sent).files.length, 0);
    assert.equal(fulfilled(run.got).files.length, 0);
    assert.equal(await exists(`${dir}/out`), false, "nothing to write, nothing created");
  });
}

Deno.test("transfer (native): an empty file alone, and a 20 MB file whose hash matches", async () => {
  await using dir = await tempDir();
  await Deno.writeFile(`${dir}/empty`, new Uint8Array(0));
  const big = randomBytes(20 * 1024 * 1024);
  await Deno.writeFile(`${dir}/big.bin`, big);
  {
    const { files } = await prepareFiles([`${dir}/empty`]);
    await using pair = await securePair("native");
    const run = await transfer(pair, files, { dir: `${dir}/out` });
    assert.equal(fulfilled(run.got).files[0]!.sha256, sha256(new Uint8Array(0)));
    assert.equal((await Deno.stat(`${dir}/out/empty`)).size, 0);
  }
  const { files } = await prepareFiles([`${dir}/big.bin`]);
  assert.equal(files[0]!.sha256, sha256(big));
  await using pair = await securePair("native", { pair: { capacity: 64 * 1024 } });
  const run = await transfer(pair, files, { dir: `${dir}/out` });
  assert.ok(fulfilled(run.sent).confirmed);
  const got = fulfilled(run.got);
  assert.equal(got.files[0]!.sha256, sha256(big));
  assert.equal(sha256(await Deno.readFile(`${dir}/out/big.bin`)), sha256(big));
});

Deno.test("sendFiles() applies backpressure: a receiver that stops reading stops the sender", async () => {
  await using dir = await tempDir();
  await Deno.writeFile(`${dir}/big.bin`, randomBytes(20 * 1024 * 1024));
  const { files } = await prepareFiles([`${dir}/big.bin`], { hash: false });
  const [left, right] = duplexPair({ capacity: 64 * 1024 });
  let handed = 0;
  const sending = sendFiles(left, files, {
    mode: "gday",
    onEvent: (e) => {
      if (e.kind === "progress") handed = e.overall.bytes;
    },
    progressIntervalMs: 0,
  });
  // A stalled gday receiver: reads the offer, accepts everything, then reads nothing more.
  const reader = right.readable.getReader();
  const { value } = await reader.read();
  assert.ok(value!.length > 4);
  const writer = right.writable.getWriter();
  await writer.write(Uint8Array.fromHex("00000010" + encoder.encode('{"response":[0]}').toHex()));
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(handed < 1024 * 1024, `the sender ran ${handed} bytes ahead of a stalled receiver`);
  await reader.cancel();
  await writer.abort();
  assert.ok(rejected((await Promise.allSettled([sending]))[0]!) instanceof ConnectionLostError);
});

Deno.test("receiveFiles() never overwrites without permission; skip, overwrite and identical files", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir}/a.txt`, "new a");
  await Deno.writeTextFile(`${dir}/b.txt`, "same b");
  const { files } = await prepareFiles([`${dir}/a.txt`, `${dir}/b.txt`]);
  await Deno.mkdir(`${dir}/out`);
  await Deno.writeTextFile(`${dir}/out/a.txt`, "old a");
  await Deno.writeTextFile(`${dir}/out/b.txt`, "same b");

  {
    await using pair = await securePair("native");
    const run = await transfer(pair, files, { dir: `${dir}/out` });
    const error = rejected(run.got);
    assert.ok(error instanceof FileConflictError, String(error));
    assert.deepEqual(error.paths, ["a.txt"]);
    assert.match(error.message, /--force/);
    const told = rejected(run.sent);
    assert.ok(told instanceof PeerTransferError, String(told));
    assert.equal(told.reason, "conflict");
    assert.match(told.message, /already has "a\.txt"/);
    assert.equal(await Deno.readTextFile(`${dir}/out/a.txt`), "old a");
    assert.deepEqual(await listParts(`${dir}/out`), [], "refused before any byte");
  }
  {
    await using pair = await securePair("native");
    const run = await transfer(pair, files, { dir: `${dir}/out`, conflict: "skip" });
    assert.deepEqual(fulfilled(run.got).files.map((f) => f.status), ["skipped", "present"]);
    assert.deepEqual(fulfilled(run.sent).files.map((f) => f.status), ["skipped", "present"]);
    assert.equal(fulfilled(run.sent).bytes, 0);
    assert.equal(await Deno.readTextFile(`${dir}/out/a.txt`), "old a");
  }
  {
    await using pair = await securePair("native");
    const run = await transfer(pair, files, { dir: `${dir}/out`, conflict: "overwrite" });
    assert.deepEqual(fulfilled(run.got).files.map((f) => f.status), ["received", "present"]);
    assert.equal(await Deno.readTextFile(`${dir}/out/a.txt`), "new a");
  }
  {
    // gday cannot tell identical files apart: every existing file is a conflict.
    await using pair = await securePair("gday");
    const run = await transfer(pair, files, { dir: `${dir}/out`, mode: "gday" }, { mode: "gday" });
    assert.ok(rejected(run.got) instanceof FileConflictError);
    assert.deepEqual(fulfilled(run.sent).files.map((f) => f.status), ["skipped", "skipped"]);
  }
  {
    // A folder where a file should go, or a file where a folder should go, is a conflict too.
    await Deno.mkdir(`${dir}/tree/x`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/x/y.txt`, "y");
    const tree = await prepareFiles([`${dir}/tree/x`]);
    await Deno.writeTextFile(`${dir}/out/x`, "a file named x");
    await using pair = await securePair("native");
    const run = await transfer(pair, tree.files, { dir: `${dir}/out`, conflict: "overwrite" });
    assert.ok(rejected(run.got) instanceof FileConflictError);
    assert.equal(await Deno.readTextFile(`${dir}/out/x`), "a file named x");
  }
});

Deno.test("transfer (native): tampered ciphertext fails cleanly, keeps the .part, and a new transfer resumes", async () => {
  await using dir = await tempDir();
  const content = randomBytes(2 * 1024 * 1024);
  await Deno.writeFile(`${dir}/data.bin`, content);
  const { files } = await prepareFiles([`${dir}/data.bin`]);
  {
    await using pair = await securePair("native", { sender: { flipAtByte: 1_500_000 } });
    const run = await transfer(pair, files, { dir: `${dir}/out` });
    const error = rejected(run.got);
    assert.ok(error instanceof ConnectionLostError, String(error));
    assert.match(error.message, /modified in transit/);
    assert.match(
      error.message,
      /partial file is kept as .*\.data\.bin\.peerlink-[0-9a-f]{8}\.part/,
    );
    assert.ok(rejected(run.sent) instanceof Error);
  }
  assert.equal(await exists(`${dir}/out/data.bin`), false);
  const [part] = await listParts(`${dir}/out`);
  const kept = (await Deno.stat(part!)).size;
  assert.ok(kept > 0 && kept < content.length, `kept ${kept}`);
  assert.deepEqual(await Deno.readFile(part!), content.subarray(0, kept), "only authentic bytes");

  await using pair = await securePair("native");
  const run = await transfer(pair, files, { dir: `${dir}/out` });
  const got = fulfilled(run.got);
  assert.equal(got.files[0]!.offset, kept);
  assert.equal(fulfilled(run.sent).bytes, content.length - kept);
  assert.equal(sha256(await Deno.readFile(`${dir}/out/data.bin`)), sha256(content));
  assert.deepEqual(await listParts(`${dir}/out`), []);
});

Deno.test("transfer (native): a file that changed after hashing is refused by hash, the .part stays", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir}/notes.txt`, "version one");
  const { files } = await prepareFiles([`${dir}/notes.txt`]);
  await Deno.writeTextFile(`${dir}/notes.txt`, "version two"); // same size, new content
  {
    await using pair = await securePair("native");
    const run = await transfer(pair, files, { dir: `${dir}/out` });
    const error = rejected(run.got);
    assert.ok(error instanceof HashMismatchError, String(error));
    assert.equal(error.expected, files[0]!.sha256);
    const told = rejected(run.sent);
    assert.ok(told instanceof PeerTransferError, String(told));
    assert.equal(told.reason, "hash-mismatch");
    assert.equal(await exists(`${dir}/out/notes.txt`), false);
    assert.equal(await Deno.readTextFile(error.partPath), "version two");
  }
  // Sending the current version works; it has its own temporary name.
  const fresh = await prepareFiles([`${dir}/notes.txt`]);
  await using pair = await securePair("native");
  const run = await transfer(pair, fresh.files, { dir: `${dir}/out` });
  assert.equal(fulfilled(run.got).files[0]!.offset, 0);
  assert.equal(await Deno.readTextFile(`${dir}/out/notes.txt`), "version two");
});

for (const mode of ["native", "gday"] as const) {
  Deno.test(`transfer (${mode}): a killed sender leaves a .part that the next transfer resumes`, async () => {
    await using dir = await tempDir();
    const content = randomBytes(4 * 1024 * 1024);
    await Deno.writeFile(`${dir}/video.mp4`, content);
    const { files } = await prepareFiles([`${dir}/video.mp4`]);
    {
      await using pair = await securePair(mode, { sender: { killAfterBytes: 1_000_000 } });
      const run = await transfer(pair, files, { dir: `${dir}/out`, mode }, { mode });
      const error = rejected(run.got);
      assert.ok(error instanceof ConnectionLostError, String(error));
      assert.match(error.message, /partial file is kept/);
      assert.ok(rejected(run.sent) instanceof ConnectionLostError);
    }
    assert.equal(await exists(`${dir}/out/video.mp4`), false);
    const [part] = await listParts(`${dir}/out`);
    const kept = (await Deno.stat(part!)).size;
    assert.ok(kept > 0 && kept < content.length, `kept ${kept}`);

    await using pair = await securePair(mode);
    const run = await transfer(pair, files, { dir: `${dir}/out`, mode }, { mode });
    const got = fulfilled(run.got);
    assert.equal(got.files[0]!.offset, kept);
    assert.ok(run.receiveEvents.some((e) => e.kind === "plan" && e.resumed === kept));
    assert.equal(got.files[0]!.sha256, sha256(content));
    assert.equal(sha256(await Deno.readFile(`${dir}/out/video.mp4`)), sha256(content));
    assert.deepEqual(await listParts(`${dir}/out`), []);
  });
}

Deno.test("transfer (native): a killed receiver is reported by the sender, and the .part stays", async () => {
  await using dir = await tempDir();
  const content = randomBytes(4 * 1024 * 1024);
  await Deno.writeFile(`${dir}/a.bin`, content);
  const { files } = await prepareFiles([`${dir}/a.bin`]);
  await using pair = await securePair("native");
  const sending = sendFiles(pair.sender, files);
  let killed = false;
  const receiving = receiveFiles(pair.receiver, {
    dir: `${dir}/out`,
    progressIntervalMs: 0,
    onEvent: (e) => {
      if (e.kind === "progress" && e.overall.bytes > 1_000_000 && !killed) {
        killed = true;
        pair.rawReceiver.kill();
      }
    },
  });
  const [sent, got] = await Promise.allSettled([sending, receiving]);
  const error = rejected(sent);
  assert.ok(error instanceof ConnectionLostError, String(error));
  assert.match(error.message, /sent\)$/);
  assert.ok(rejected(got) instanceof ConnectionLostError);
  assert.equal((await listParts(`${dir}/out`)).length, 1);
  assert.equal(await exists(`${dir}/out/a.bin`), false);
});

/**
 * A plaintext native sender that says whatever the test wants: the offer, then (after the
 * receiver's first answer) `data`; resolves with the reason or type of the receiver's last
 * message.
 */
async function rawSender(
  conn: Duplex,
  offer: Uint8Array,
  data: Uint8Array = new Uint8Array(0),
): Promise<string | null> {
  const writer = conn.writable.getWriter();
  await writer.write(offer);
  const reader = conn.readable.getReader();
  let buffer = new Uint8Array(0);
  let last: string | null = null;
  let first = true;
  for (;;) {
    const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
    if (done) break;
    buffer = new Uint8Array([...buffer, ...value!]);
    while (buffer.length >= 4) {
      const length = new DataView(buffer.buffer).getUint32(0);
      if (buffer.length < 4 + length) break;
      const [message, next] = decodeTransferMessage(buffer);
      buffer = buffer.slice(next);
      last = message.type === "reject" || message.type === "error" ? message.reason : message.type;
      if (first) {
        first = false;
        await writer.write(data).catch(() => {});
        await writer.close().catch(() => {});
      }
    }
  }
  await writer.close().catch(() => {});
  return last;
}

Deno.test("receiveFiles() refuses hostile names and never writes through a symbolic link", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir}/out`);
  await Deno.mkdir(`${dir}/elsewhere`);
  await Deno.symlink(`${dir}/elsewhere`, `${dir}/out/link`);
  const H = "0".repeat(64);
  for (const path of ["../escape.txt", "/tmp/abs.txt", "ok/../../x", "a\\..\\b"]) {
    const json = `{"type":"offer","version":1,"files":[{"path":${
      JSON.stringify(path)
    },"size":"1","sha256":"${H}"}]}`;
    const [left, right] = duplexPair();
    const [reason, got] = await Promise.allSettled([
      rawSender(left, encodeFrame(json)),
      receiveFiles(right, { dir: `${dir}/out` }),
    ]);
    assert.equal(fulfilled(reason), "unsafe-path", path);
    assert.ok(rejected(got) instanceof UnsafePathError, path);
  }
  const [left, right] = duplexPair();
  const offer = encodeTransferMessage({
    type: "offer",
    version: 1,
    files: [{ path: "link/x.txt", size: 1n, sha256: H }],
  });
  const [reason, got] = await Promise.allSettled([
    rawSender(left, offer),
    receiveFiles(right, { dir: `${dir}/out`, conflict: "overwrite" }),
  ]);
  assert.equal(fulfilled(reason), "unsafe-path");
  assert.match(String(rejected(got)), /symbolic link/);
  assert.deepEqual([...Deno.readDirSync(`${dir}/elsewhere`)], []);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["elsewhere", "out"]);
});

function encodeFrame(json: string): Uint8Array {
  const body = encoder.encode(json);
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

Deno.test("receiveFiles() refuses another version, huge sizes, and extra bytes after the data", async () => {
  await using dir = await tempDir();
  const cases: [Uint8Array, Uint8Array, string, RegExp][] = [
    [
      encodeFrame('{"type":"offer","version":9,"files":[]}'),
      new Uint8Array(0),
      "version",
      /version 9/,
    ],
    [
      encodeTransferMessage({
        type: "offer",
        version: 1,
        files: [{ path: "huge", size: 2n ** 60n, sha256: "0".repeat(64) }],
      }),
      new Uint8Array(0),
      "too-large",
      /more than this receiver/,
    ],
    [
      encodeTransferMessage({
        type: "offer",
        version: 1,
        files: [{ path: "x", size: 1n, sha256: sha256(encoder.encode("x")) }],
      }),
      encoder.encode("xy"),
      "protocol",
      /more bytes than it offered/,
    ],
    [encodeFrame('{"type":"done"}'), new Uint8Array(0), "protocol", /instead of an offer/],
  ];
  for (const [offer, data, reason, message] of cases) {
    const [left, right] = duplexPair();
    const [told, got] = await Promise.allSettled([
      rawSender(left, offer, data),
      receiveFiles(right, { dir: `${dir}/out` }),
    ]);
    assert.equal(fulfilled(told), reason);
    const error = rejected(got);
    assert.ok(error instanceof TransferProtocolError, String(error));
    assert.match(error.message, message);
  }
});

Deno.test("sendFiles() refuses a response that does not fit the offer", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir}/a`, "abc");
  const { files } = await prepareFiles([`${dir}/a`]);
  for (
    const response of [
      encodeTransferMessage({ type: "response", files: [{ action: "send", offset: 4n }] }),
      encodeTransferMessage({ type: "response", files: [] }),
      encodeTransferMessage({ type: "done" }),
    ]
  ) {
    const [left, right] = duplexPair();
    const peer = (async () => {
      const reader = right.readable.getReader();
      await reader.read();
      const writer = right.writable.getWriter();
      await writer.write(response);
      await writer.close();
      await reader.cancel();
    })();
    const [sent] = await Promise.allSettled([sendFiles(left, files), peer]);
    assert.ok(rejected(sent) instanceof TransferProtocolError);
  }
  // Native mode needs hashes.
  await assert.rejects(
    () => sendFiles(duplexPair()[0], [{ path: "a", localPath: `${dir}/a`, size: 3 }]),
    TypeError,
  );
});

Deno.test("receiveFiles() times out when the sender goes quiet, and stops when cancelled", async () => {
  await using dir = await tempDir();
  {
    const [_left, right] = duplexPair();
    const error = await receiveFiles(right, { dir: `${dir}/out`, idleTimeoutMs: 100 }).catch((
      e,
    ) => e);
    assert.ok(error instanceof TransferTimeoutError, String(error));
  }
  const [_left, right] = duplexPair();
  const controller = new AbortController();
  const receiving = receiveFiles(right, { dir: `${dir}/out`, signal: controller.signal });
  controller.abort(new Error("Interrupted"));
  await assert.rejects(receiving, /Interrupted/);
});

/** Read exactly `n` bytes (or fewer at the end) from a reader, keeping what is left over. */
async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
  held: { rest: Uint8Array },
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = Math.min(n, held.rest.length);
  out.set(held.rest.subarray(0, have));
  held.rest = held.rest.subarray(have);
  while (have < n) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = Math.min(n - have, value.length);
    out.set(value.subarray(0, take), have);
    held.rest = value.subarray(take);
    have += take;
  }
  return out.subarray(0, have);
}

Deno.test("gday interop: a receiver that acts as gday 0.1.1 (exact reads, then drops) gets every byte", async () => {
  await using dir = await tempDir();
  const one = randomBytes(200_000);
  const two = encoder.encode("second file");
  await Deno.writeFile(`${dir}/one.bin`, one);
  await Deno.writeFile(`${dir}/two.txt`, two);
  const { files } = await prepareFiles([`${dir}/one.bin`, `${dir}/two.txt`]);
  await using pair = await securePair("gday");
  // The "gday" side: read the offer frame, resume one.bin at 1000, take two.txt whole.
  const gday = (async () => {
    const reader = pair.receiver.readable.getReader();
    const held = { rest: new Uint8Array(0) };
    const head = await readExactly(reader, 4, held);
    const length = new DataView(head.buffer, head.byteOffset).getUint32(0);
    const body = await readExactly(reader, length, held);
    const offer = JSON.parse(new TextDecoder().decode(body));
    assert.deepEqual(offer, {
      files: [{ short_path: "one.bin", len: one.length }, {
        short_path: "two.txt",
        len: two.length,
      }],
    });
    const writer = pair.receiver.writable.getWriter();
    await writer.write(encodeFrame('{"response":[1000,0]}'));
    const got = await readExactly(reader, one.length - 1000 + two.length, held);
    // gday drops the connection at once, without reading the end.
    await pair.receiver.close();
    return got;
  })();
  const [sent, got] = await Promise.all([sendFiles(pair.sender, files, { mode: "gday" }), gday]);
  assert.equal(sent.confirmed, false);
  assert.deepEqual(sent.files.map((f) => f.offset), [1000, 0]);
  assert.deepEqual(got, new Uint8Array([...one.subarray(1000), ...two]));
});

Deno.test("gday interop: a sender that acts as gday 0.1.1 (offer, data, then drops) is received and hashed", async () => {
  await using dir = await tempDir();
  const data = randomBytes(150_000);
  await using pair = await securePair("gday");
  const gday = (async () => {
    const writer = pair.sender.writable.getWriter();
    await writer.write(
      encodeFrame(`{"files":[{"short_path":"dir/data.bin","len":${data.length}}]}`),
    );
    const reader = pair.sender.readable.getReader();
    const held = { rest: new Uint8Array(0) };
    const head = await readExactly(reader, 4, held);
    const body = await readExactly(
      reader,
      new DataView(head.buffer, head.byteOffset).getUint32(0),
      held,
    );
    assert.equal(new TextDecoder().decode(body), '{"response":[0]}');
    await writer.write(data);
    await pair.sender.close(); // dropped, no end-of-stream
  })();
  const [got] = await Promise.all([
    receiveFiles(pair.receiver, { dir: `${dir}/out`, mode: "gday" }),
    gday,
  ]);
  assert.equal(got.files[0]!.sha256, sha256(data));
  assert.equal(got.files[0]!.verified, false);
  assert.deepEqual(await Deno.readFile(`${dir}/out/dir/data.bin`), data);
});
