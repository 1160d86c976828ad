/**
 * Declarative command-line flags on top of `node:util` `parseArgs` (standing in for `@std/cli`):
 * one table gives parsing, validation, defaults and the `--help` text.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "./io.ts";

/** One flag. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `"gday-port"`. */
  name: string;
  /** Value kind. `"number"` accepts decimals; `"integer"` only whole numbers. */
  type: "string" | "integer" | "number" | "boolean";
  /** One-line help. */
  help: string;
  /** Default shown in help and used when absent. */
  default?: string | number | boolean;
  /** Placeholder for the value in help, e.g. `"N"`. */
  value?: string;
  /** Smallest allowed number. */
  min?: number;
  /** Largest allowed number. */
  max?: number;
  /** Allowed string values. */
  choices?: readonly string[];
  /** One-letter alias. */
  short?: string;
  /** May be given several times (values collected in a list). */
  multiple?: boolean;
}

/**
 * Where a flag's value comes from when it is not on the command line (an environment variable,
 * a config file): the raw value as it would have been typed, or `undefined`.
 */
export type FlagFallback = (spec: FlagSpec) => string | boolean | string[] | undefined;

/** Parsed flag values by name, plus positional arguments. */
export interface ParsedFlags {
  /** Values by flag name (defaults filled in). */
  values: Record<string, string | number | boolean | string[] | undefined>;
  /** Arguments that are not flags. */
  positionals: string[];
}

/**
 * Parse `args` against `specs`. Unknown flags, missing values and out-of-range numbers raise a
 * {@linkcode UsageError} naming the flag.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const { values } = parseFlags(["--port", "0", "--json"], [
 *   { name: "port", type: "integer", help: "Port", default: 2310, min: 0, max: 65535 },
 *   { name: "json", type: "boolean", help: "JSON output" },
 * ]);
 * if (values.port !== 0 || values.json !== true) throw new Error("Bad parse");
 * ```
 */
export function parseFlags(
  args: readonly string[],
  specs: readonly FlagSpec[],
  allowPositionals = false,
  fallback?: FlagFallback,
): ParsedFlags {
  const options: Record<
    string,
    { type: "string" | "boolean"; short?: string; multiple?: boolean }
  > = {
    help: { type: "boolean", short: "h" },
  };
  for (const spec of specs) {
    options[spec.name] = {
      type: spec.type === "boolean" ? "boolean" : "string",
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.multiple ? { multiple: true } : {}),
    };
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      options,
      strict: true,
      allowPositionals,
      allowNegative: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify.*$/s, ""));
  }
  const values: ParsedFlags["values"] = { help: parsed.values.help as boolean | undefined };
  for (const spec of specs) {
    const raw = (parsed.values[spec.name] as string | boolean | string[] | undefined) ??
      fallback?.(spec);
    if (raw === undefined) {
      values[spec.name] = spec.default;
      continue;
    }
    if (spec.type === "boolean" || spec.multiple) {
      values[spec.name] = raw;
      continue;
    }
    const text = raw as string;
    if (spec.type === "string") {
      if (spec.choices && !spec.choices.includes(text)) {
        throw new UsageError(
          `--${spec.name} must be one of ${spec.choices.join(", ")} (got "${text}")`,
        );
      }
      values[spec.name] = text;
      continue;
    }
    const n = Number(text);
    if (
      text.trim() === "" || !Number.isFinite(n) || (spec.type === "integer" && !Number.isInteger(n))
    ) {
      throw new UsageError(
        `--${spec.name} must be ${
          spec.type === "integer" ? "a whole number" : "a number"
        } (got "${text}")`,
      );
    }
    if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
      throw new UsageError(
        `--${spec.name} must be between ${spec.min ?? "-∞"} and ${spec.max ?? "∞"} (got ${text})`,
      );
    }
    values[spec.name] = n;
  }
  return { values, positionals: parsed.positionals };
}

/**
 * Help text for a flag table: one line per flag with its default.
 *
 * @example
 * ```ts
 * import { flagHelp } from "./flags.ts";
 * const text = flagHelp([{ name: "port", type: "integer", value: "N", help: "Port", default: 2310 }]);
 * if (!text.includes("--port N") || !text.includes("2310")) throw new Error(text);
 * ```
 */
export function flagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const left = `${spec.short ? `-${spec.short}, ` : "    "}--${spec.name}${
      spec.type === "boolean" ? "" : ` ${spec.value ?? "VALUE"}`
    }`;
    const def = spec.default === undefined || spec.default === false
      ? ""
      : ` (default: ${spec.default})`;
    return [left, `${spec.help}${def}`] as const;
  });
  rows.push(["-h, --help", "Show this help"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`).join("\n") + "\n";
}
