/**
 * Turn a `node:net` / `node:tls` socket into web streams with backpressure: the readable pauses
 * the socket when its queue is full, the writable waits for `drain`, and closing the writable
 * half-closes the connection (`end()`).
 *
 * @module
 */

import type { Socket } from "node:net";
import type { Duplex } from "./duplex.ts";

/** Bytes the readable side queues before it pauses the socket. */
export const READ_HIGH_WATER_BYTES = 256 * 1024;

/**
 * Wrap a connected socket. The socket must be created with `allowHalfOpen: true` so that the
 * readable can end while the writable goes on.
 *
 * @example
 * ```ts
 * import net from "node:net";
 * import { socketStreams } from "./node_socket.ts";
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const socket = net.connect({ host: "127.0.0.1", port: listener.addr.port, allowHalfOpen: true });
 * const accepted = await listener.accept();
 * const { writable } = socketStreams(socket);
 * const writer = writable.getWriter();
 * await writer.write(new Uint8Array([42]));
 * await writer.close();
 * const bytes = await new Response(accepted.readable).bytes();
 * if (bytes[0] !== 42) throw new Error("Not received");
 * socket.destroy();
 * ```
 */
export function socketStreams(socket: Socket): Duplex {
  let readClosed = false;
  const readable = new ReadableStream<Uint8Array>({
    start(controller) {
      socket.on("data", (chunk: Uint8Array) => {
        if (readClosed) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) socket.pause();
      });
      socket.on("end", () => {
        if (readClosed) return;
        readClosed = true;
        controller.close();
      });
      socket.on("error", (error: Error) => {
        if (readClosed) return;
        readClosed = true;
        controller.error(error);
      });
      socket.on("close", () => {
        if (readClosed) return;
        readClosed = true;
        controller.error(new Error("Connection closed"));
      });
    },
    pull() {
      socket.resume();
    },
    cancel() {
      readClosed = true;
      socket.destroy();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: READ_HIGH_WATER_BYTES }));

  const waitDrain = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        socket.off("drain", done);
        socket.off("close", closed);
        resolve();
      };
      const closed = (): void => {
        socket.off("drain", done);
        reject(new Error("Connection closed while writing"));
      };
      socket.once("drain", done);
      socket.once("close", closed);
    });

  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      if (socket.destroyed) throw new Error("Connection closed");
      if (!socket.write(chunk)) await waitDrain();
    },
    close() {
      return new Promise((resolve) => {
        if (socket.destroyed || socket.writableEnded) return resolve();
        socket.end(() => resolve());
      });
    },
    abort() {
      socket.destroy();
    },
  });
  return { readable, writable };
}
