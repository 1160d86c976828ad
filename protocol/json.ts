/**
 * Strict JSON decoding shared by the protocol codecs: UTF-8 checked, numbers kept as their source
 * text (so 64-bit integers survive exactly), and small helpers to validate fields. Pure, no I/O.
 *
 * @module
 */

/** A JSON number kept as its exact source text (e.g. `"18446744073709551615"` or `"1.5"`). */
export class JsonNumber {
  /** The number exactly as written in the document. */
  readonly source: string;
  /**
   * Wrap a number's source text.
   *
   * @example
   * ```ts
   * import { JsonNumber } from "./json.ts";
   * if (new JsonNumber("12").source !== "12") throw new Error("Bad source");
   * ```
   */
  constructor(source: string) {
    this.source = source;
  }
}

/** A decoded JSON value whose numbers are {@linkcode JsonNumber}s. */
export type JsonValue =
  | null
  | boolean
  | string
  | JsonNumber
  | JsonValue[]
  | { [key: string]: JsonValue };

/** The bytes are not valid UTF-8 JSON. */
export class JsonSyntaxError extends Error {
  /**
   * Make the error.
   *
   * @example
   * ```ts
   * import { JsonSyntaxError } from "./json.ts";
   * if (new JsonSyntaxError("x").name !== "JsonSyntaxError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JsonSyntaxError";
  }
}

/**
 * Parse UTF-8 JSON bytes, keeping every number as a {@linkcode JsonNumber}. Leading and trailing
 * whitespace is allowed; anything else around the value is an error.
 *
 * @throws {JsonSyntaxError} for invalid UTF-8 or JSON.
 *
 * @example
 * ```ts
 * import { JsonNumber, parseJson } from "./json.ts";
 * const value = parseJson(new TextEncoder().encode('{"n":18446744073709551615}'));
 * const n = (value as { n: JsonNumber }).n;
 * if (BigInt(n.source) !== 2n ** 64n - 1n) throw new Error("Lost precision");
 * ```
 */
export function parseJson(bytes: Uint8Array): JsonValue {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new JsonSyntaxError("Message is not valid UTF-8", { cause });
  }
  try {
    return JSON.parse(text, function (_key, value, context?: { source?: string }) {
      if (typeof value === "number") return new JsonNumber(context?.source ?? String(value));
      return value;
    }) as JsonValue;
  } catch (cause) {
    throw new JsonSyntaxError("Message is not valid JSON", { cause });
  }
}

/**
 * Is `value` a plain JSON object (not an array, not null)?
 *
 * @example
 * ```ts
 * import { isJsonObject } from "./json.ts";
 * if (!isJsonObject({}) || isJsonObject([]) || isJsonObject(null)) throw new Error("Wrong");
 * ```
 */
export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof JsonNumber);
}

/**
 * Read an unsigned integer of at most `bits` bits from a JSON number, exactly as serde reads
 * `u8`..`u64`: no sign, no fraction, no exponent, in range. Returns `null` when it is not one.
 *
 * @example
 * ```ts
 * import { JsonNumber, jsonUnsigned } from "./json.ts";
 * if (jsonUnsigned(new JsonNumber("65535"), 16) !== 65535n) throw new Error("Bad value");
 * if (jsonUnsigned(new JsonNumber("1.0"), 16) !== null) throw new Error("Float accepted");
 * if (jsonUnsigned(new JsonNumber("65536"), 16) !== null) throw new Error("Overflow accepted");
 * ```
 */
export function jsonUnsigned(value: JsonValue | undefined, bits: number): bigint | null {
  if (!(value instanceof JsonNumber) || !/^(0|[1-9][0-9]*)$/.test(value.source)) return null;
  if (value.source.length > 20) return null;
  const n = BigInt(value.source);
  return n < 1n << BigInt(bits) ? n : null;
}
