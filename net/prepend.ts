/**
 * Put bytes already read back in front of a stream: for protocols that read a little (a
 * selection byte, a greeting) and then hand the rest of the stream on.
 *
 * @module
 */

/**
 * A fresh stream of `first` (if any, and not empty) followed by what `reader` still has.
 * Cancelling it cancels `reader`; a read error of `reader` errors it.
 *
 * @example
 * ```ts
 * import { prependStream } from "./prepend.ts";
 * const reader = ReadableStream.from([new Uint8Array([2, 3])]).getReader();
 * const bytes = await new Response(prependStream(new Uint8Array([1]), reader)).bytes();
 * if (bytes.join() !== "1,2,3") throw new Error("Bad order");
 * ```
 */
export function prependStream(
  first: Uint8Array | null,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let pending = first !== null && first.length > 0 ? first : null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (pending !== null) {
        controller.enqueue(pending);
        pending = null;
        return;
      }
      try {
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch (error) {
        controller.error(error);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}
