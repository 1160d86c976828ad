/**
 * A {@linkcode Duplex} over a `MessagePort`, so the two peers of a benchmark can run on two
 * threads (the main thread and a Worker), as two real peers run on two machines. Chunks that own
 * their whole buffer are transferred, not copied; flow control is a window of unacknowledged
 * chunks, so a slow reader slows the writer.
 *
 * @example
 * ```ts
 * import { portDuplex } from "./secure_port_duplex.ts";
 * const { port1, port2 } = new MessageChannel();
 * const a = portDuplex(port1), b = portDuplex(port2);
 * const writer = a.writable.getWriter();
 * await writer.write(new Uint8Array([1, 2]));
 * await writer.close();
 * const bytes = new Uint8Array(await new Response(b.readable).arrayBuffer());
 * if (bytes.join() !== "1,2") throw new Error("Bad bytes");
 * port1.close();
 * ```
 *
 * @module
 */

import type { Duplex } from "../secure/duplex.ts";

export type { Duplex };

type Message = { data: ArrayBuffer } | { ack: number } | { end: true };

/** Chunks smaller than this are copied; larger ones that own their buffer are transferred. */
const TRANSFER_MIN_BYTES = 16 * 1024;

/**
 * Wrap `port` as a duplex. At most `window` chunks are in flight unacknowledged.
 *
 * @example
 * ```ts
 * import { portDuplex } from "./secure_port_duplex.ts";
 * const { port1, port2 } = new MessageChannel();
 * const duplex = portDuplex(port1, 4);
 * if (!(duplex.readable instanceof ReadableStream)) throw new Error("Not a duplex");
 * port1.close();
 * port2.close();
 * ```
 */
export function portDuplex(port: MessagePort, window = 16): Duplex {
  const queue: ArrayBuffer[] = [];
  let ended = false;
  let inflight = 0;
  let wakeReader: (() => void) | undefined;
  let wakeWriter: (() => void) | undefined;
  port.onmessage = (event: MessageEvent<Message>) => {
    const message = event.data;
    if ("data" in message) {
      queue.push(message.data);
      wakeReader?.();
      wakeReader = undefined;
    } else if ("ack" in message) {
      inflight -= message.ack;
      wakeWriter?.();
      wakeWriter = undefined;
    } else {
      ended = true;
      wakeReader?.();
      wakeReader = undefined;
    }
  };
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      while (queue.length === 0 && !ended) {
        await new Promise<void>((resolve) => (wakeReader = resolve));
      }
      const buffer = queue.shift();
      if (buffer === undefined) {
        controller.close();
        return;
      }
      port.postMessage({ ack: 1 } satisfies Message);
      controller.enqueue(new Uint8Array(buffer));
    },
  }, { highWaterMark: 0 });
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      while (inflight >= window) await new Promise<void>((resolve) => (wakeWriter = resolve));
      inflight++;
      const owns = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength &&
        chunk.byteLength >= TRANSFER_MIN_BYTES && chunk.buffer instanceof ArrayBuffer;
      const buffer = owns ? chunk.buffer as ArrayBuffer : chunk.slice().buffer;
      port.postMessage({ data: buffer } satisfies Message, [buffer]);
    },
    close() {
      port.postMessage({ end: true } satisfies Message);
    },
  });
  return { readable, writable };
}
