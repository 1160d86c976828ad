/**
 * A child process for `quic_listener_test.ts`: runs one `quicAccept` scenario and prints a JSON
 * line with what happened. A runtime panic (the bug the test guards against) kills this process,
 * not the test runner.
 *
 * Modes:
 * - `two-joiners`: two joiners connect at once; the first is served, the second must be refused,
 *   and the connection keeps working for a while after.
 * - `cancel`: the acceptor is cancelled while a joiner's handshake is in flight, and the
 *   process must still exit on its own.
 */

import { quicAccept, quicConnect, type QuicStream } from "../net/quic.ts";
import { quicCertificate } from "../net/quic_cert.ts";
import type { SocketAddr } from "../protocol/socket_addr.ts";

const certificate = quicCertificate(new Uint8Array(32).fill(7));

function freeUdpAddr(): SocketAddr {
  const socket = Deno.listenDatagram({ transport: "udp", hostname: "127.0.0.1", port: 0 });
  socket.close();
  return { family: "v4", ip: "127.0.0.1", port: (socket.addr as Deno.NetAddr).port };
}

function join(remote: SocketAddr): Promise<QuicStream> {
  return quicConnect({ local: freeUdpAddr(), remote, certificate, timeoutMs: 5000 });
}

async function writeByte(stream: QuicStream, byte: number): Promise<void> {
  const writer = stream.writable.getWriter();
  try {
    await writer.write(new Uint8Array([byte]));
  } finally {
    writer.releaseLock();
  }
}

async function readByte(stream: QuicStream): Promise<number | undefined> {
  const reader = stream.readable.getReader();
  try {
    const { value } = await reader.read();
    return value?.[0];
  } finally {
    reader.releaseLock();
  }
}

async function twoJoiners(): Promise<Record<string, unknown>> {
  const local = freeUdpAddr();
  const accepting = quicAccept({ local, certificate, timeoutMs: 10_000 });
  const joiners = [join(local), join(local)];
  // Whoever connects writes a byte, so the acceptor sees its stream.
  for (const joiner of joiners) joiner.then((s) => writeByte(s, 1)).catch(() => {});
  const settled = await Promise.allSettled(joiners);
  const served = await accepting;
  const first = await readByte(served);
  // Let the refused joiner's retransmissions (if any) arrive while the connection lives.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await writeByte(served, 2);
  const winner = settled.find((r) => r.status === "fulfilled")?.value;
  const echoed = winner ? await readByte(winner) : undefined;
  served.abort();
  for (const r of settled) if (r.status === "fulfilled") r.value.abort();
  return {
    fulfilled: settled.filter((r) => r.status === "fulfilled").length,
    refused: settled
      .filter((r): r is PromiseRejectedResult => r.status === "rejected")
      .map((r) => String(r.reason?.message ?? r.reason)),
    first,
    echoed,
  };
}

async function cancel(): Promise<Record<string, unknown>> {
  const local = freeUdpAddr();
  const controller = new AbortController();
  const accepting = quicAccept({ local, certificate, signal: controller.signal });
  const joiner = join(local);
  await new Promise((resolve) => setTimeout(resolve, 0));
  controller.abort(new Error("cancelled by the test"));
  const acceptError = await accepting.then(
    (s) => (s.abort(), "accepted"),
    (e) => String(e?.message ?? e),
  );
  const joinerOutcome = await joiner.then((s) => (s.abort(), "connected"), () => "failed");
  return { acceptError, joinerOutcome };
}

const mode = Deno.args[0];
const result = mode === "cancel" ? await cancel() : await twoJoiners();
console.log(JSON.stringify(result));
