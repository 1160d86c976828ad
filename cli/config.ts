/**
 * Server configuration from three sources besides the command line: environment variables
 * (`PEERLINK_<FLAG>`, e.g. `PEERLINK_GDAY_PORT=2310`), and a JSON config file
 * (`--config FILE`, keys are flag names: `{"gday-port": 2310, "tls-cert": "/etc/peerlink/cert.pem"}`).
 * Precedence: command line, then environment, then config file, then the default.
 *
 * @module
 */

import type { FlagFallback, FlagSpec } from "./flags.ts";
import { UsageError } from "./io.ts";

/**
 * The environment variable for a flag: `PEERLINK_` + the name in upper case with `_`.
 *
 * @example
 * ```ts
 * import { envName } from "./config.ts";
 * if (envName("gday-port") !== "PEERLINK_GDAY_PORT") throw new Error("Bad name");
 * ```
 */
export function envName(flag: string): string {
  return `PEERLINK_${flag.toUpperCase().replaceAll("-", "_")}`;
}

/** A parsed config file: flag name → value. */
export type ConfigFile = Record<string, unknown>;

/**
 * Read and check a JSON config file: an object whose keys are known flag names.
 *
 * @throws {UsageError} when the file cannot be read, is not a JSON object, or names an unknown
 *   flag or a wrongly typed value.
 *
 * @example
 * ```ts ignore
 * const config = await readConfigFile("/etc/peerlink/server.json", SERVER_FLAGS);
 * ```
 */
export async function readConfigFile(
  path: string,
  specs: readonly FlagSpec[],
): Promise<ConfigFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UsageError(`Cannot read the config file ${path}: ${(error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`The config file ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new UsageError(
      `The config file ${path} must hold a JSON object of flag names and values`,
    );
  }
  const known = new Map(specs.map((s) => [s.name, s]));
  for (const [key, value] of Object.entries(data)) {
    const spec = known.get(key);
    if (spec === undefined || key === "config") {
      throw new UsageError(
        `The config file ${path} names an unknown setting "${key}" (settings are the flag names of --help)`,
      );
    }
    const ok = spec.type === "boolean"
      ? typeof value === "boolean"
      : spec.multiple
      ? Array.isArray(value) && value.every((v) => typeof v === "string")
      : spec.type === "string"
      ? typeof value === "string"
      : typeof value === "number";
    if (!ok) {
      const wanted = spec.type === "boolean"
        ? "true or false"
        : spec.multiple
        ? "a list of strings"
        : spec.type === "string"
        ? "a string"
        : "a number";
      throw new UsageError(`In the config file ${path}, "${key}" must be ${wanted}`);
    }
  }
  return data as ConfigFile;
}

/**
 * The fallback for `parseFlags`: the environment first, then the config file.
 *
 * @example
 * ```ts
 * import { configFallback } from "./config.ts";
 * const fallback = configFallback((name) => (name === "PEERLINK_GDAY_PORT" ? "2400" : undefined), { "log-format": "json" });
 * if (fallback({ name: "gday-port", type: "integer", help: "" }) !== "2400") throw new Error("Env ignored");
 * if (fallback({ name: "log-format", type: "string", help: "" }) !== "json") throw new Error("File ignored");
 * ```
 */
export function configFallback(
  env: (name: string) => string | undefined,
  config: ConfigFile = {},
): FlagFallback {
  return (spec) => {
    const fromEnv = env(envName(spec.name));
    if (fromEnv !== undefined) {
      if (spec.type === "boolean") {
        if (/^(1|true|yes|on)$/i.test(fromEnv)) return true;
        if (/^(0|false|no|off)$/i.test(fromEnv)) return false;
        throw new UsageError(`${envName(spec.name)} must be true or false (got "${fromEnv}")`);
      }
      return spec.multiple ? fromEnv.split(",").map((s) => s.trim()).filter(Boolean) : fromEnv;
    }
    const value = config[spec.name];
    if (value === undefined) return undefined;
    if (typeof value === "number") return String(value);
    return value as string | boolean | string[];
  };
}
