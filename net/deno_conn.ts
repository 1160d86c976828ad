/**
 * A `Deno.Conn` as web streams that support half-close: closing the writable sends FIN
 * (`closeWrite`), and reaching the end of the readable leaves the socket open for writing.
 * (`Deno.Conn`'s own `readable` and `writable` close the whole socket in both cases, so a side
 * that has read everything could no longer answer.)
 *
 * @module
 */

import { type SocketAddr, toSocketAddr } from "../protocol/socket_addr.ts";
import type { Duplex } from "./duplex.ts";
import type { TcpConnection } from "./tcp.ts";

/** Bytes a read asks for at a time. */
const READ_CHUNK_BYTES = 256 * 1024;

/**
 * Bytes the writable queues before `ready` waits: one large write can be on its way while the
 * writer prepares the next (e.g. encrypts it).
 */
const WRITE_QUEUE_BYTES = 512 * 1024;

/**
 * Streams over a connection; `close()` closes the socket (safe to call twice).
 *
 * @example Half-close: read to the end, then still answer
 * ```ts
 * import { denoConnStreams } from "./deno_conn.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * const server = denoConnStreams(await listener.accept());
 * await client.closeWrite();
 * if ((await new Response(server.readable).arrayBuffer()).byteLength !== 0) throw new Error("Data?");
 * const writer = server.writable.getWriter();
 * await writer.write(new Uint8Array([1]));
 * await writer.close();
 * if ((await new Response(client.readable).arrayBuffer()).byteLength !== 1) throw new Error("Lost");
 * server.close();
 * ```
 */
export function denoConnStreams(conn: Deno.Conn): Duplex & { close(): void } {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      let offset = 0;
      while (offset < chunk.length) offset += await conn.write(chunk.subarray(offset));
    },
    async close() {
      try {
        await conn.closeWrite();
      } catch { /* closed */ }
    },
    abort() {
      close();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: WRITE_QUEUE_BYTES }));
  const readable = new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: READ_CHUNK_BYTES,
    async pull(controller) {
      const request = controller.byobRequest!;
      const view = request.view as Uint8Array;
      let n: number | null;
      try {
        n = await conn.read(view);
      } catch (error) {
        if (closed) {
          controller.close();
          request.respond(0);
        } else controller.error(error);
        return;
      }
      if (n === null) {
        controller.close();
        request.respond(0);
      } else {
        request.respond(n);
      }
    },
    cancel() {
      close();
    },
  }) as ReadableStream<Uint8Array>;
  return { readable, writable, close };
}

function addr(a: Deno.Addr): SocketAddr {
  const net = a as Deno.NetAddr;
  return toSocketAddr(net.hostname, net.port) ?? { family: "v4", ip: "0.0.0.0", port: 0 };
}

/**
 * A TCP `Deno.Conn` (e.g. one accepted by a listener) as a {@linkcode TcpConnection} with
 * half-close, Nagle off.
 *
 * @example
 * ```ts
 * import { fromDenoConn } from "./deno_conn.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * using conn = fromDenoConn(await listener.accept());
 * if (conn.remoteAddr.port !== (client.localAddr as Deno.NetAddr).port) throw new Error("Wrong peer");
 * client.close();
 * ```
 */
export function fromDenoConn(conn: Deno.Conn): TcpConnection {
  (conn as Deno.TcpConn).setNoDelay?.(true);
  const { readable, writable, close } = denoConnStreams(conn);
  return {
    readable,
    writable,
    localAddr: addr(conn.localAddr),
    remoteAddr: addr(conn.remoteAddr),
    close,
    [Symbol.dispose]: close,
  };
}
