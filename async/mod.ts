/**
 * Small async helpers standing in for `@std/async` (which cannot be fetched where peerlink is
 * built): {@linkcode delay}, {@linkcode deadline}, {@linkcode abortable} and {@linkcode retry}.
 *
 * @example
 * ```ts
 * import { deadline, delay } from "./mod.ts";
 * await deadline(delay(1), 1000);
 * ```
 *
 * @module
 */
export * from "./abortable.ts";
export * from "./deadline.ts";
export * from "./delay.ts";
export * from "./retry.ts";
