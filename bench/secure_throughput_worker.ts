/**
 * Worker side of `./secure_throughput.ts`: receives a `MessagePort`, runs the native handshake
 * over it as the receiving peer, reads everything, and reports the byte count.
 *
 * @example
 * ```ts ignore
 * new Worker(new URL("./secure_throughput_worker.ts", import.meta.url), { type: "module" });
 * ```
 *
 * @module
 */

import { handshake } from "../secure/handshake.ts";
import { portDuplex } from "./secure_port_duplex.ts";

/** The message the worker expects. */
export interface WorkerRequest {
  /** The worker's end of the channel. */
  port: MessagePort;
  /** The shared code. */
  code: Uint8Array;
}

/** The message the worker sends back. */
export interface WorkerReply {
  /** Plaintext bytes received. */
  bytes: number;
}

/**
 * Receive everything over `port`; returns the byte count.
 *
 * @example
 * ```ts ignore
 * const bytes = await receiveAll(port, code);
 * ```
 */
export async function receiveAll(port: MessagePort, code: Uint8Array): Promise<number> {
  const connection = await handshake(portDuplex(port), code);
  let bytes = 0;
  for await (const chunk of connection.readable) bytes += chunk.length;
  await connection.writable.close();
  return bytes;
}

if (import.meta.main && "WorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
    postMessage(message: WorkerReply): void;
  };
  scope.onmessage = async (event) => {
    const bytes = await receiveAll(event.data.port, event.data.code);
    scope.postMessage({ bytes });
    event.data.port.close();
  };
}
