/**
 * Errors raised by the NAT lab. Each message says what went wrong and what to do about it.
 *
 * @module
 */

/**
 * Raised when this machine cannot run the lab: not Linux, not root, Deno lacks permissions,
 * or `ip`/`nft`/`sysctl` are missing or cannot create network namespaces.
 */
export class LabUnavailableError extends Error {
  /** Why the lab cannot run, one line each, every line saying how to fix it. */
  readonly reasons: readonly string[];

  /**
   * Make an unavailable error from one or more reasons.
   *
   * @example
   * ```ts
   * import { LabUnavailableError } from "./errors.ts";
   * const error = new LabUnavailableError(["Run as root (sudo)"]);
   * if (error.name !== "LabUnavailableError") throw new Error("Bad name");
   * if (!error.message.includes("sudo")) throw new Error("Bad message");
   * ```
   */
  constructor(reasons: readonly string[], options?: ErrorOptions) {
    super(`The NAT lab cannot run here: ${reasons.join("; ")}`, options);
    this.name = "LabUnavailableError";
    this.reasons = reasons;
  }
}

/** Raised when a command the lab runs (`ip`, `nft`, `sysctl`, or one of yours) fails. */
export class LabCommandError extends Error {
  /** The command line that failed. */
  readonly argv: readonly string[];
  /** Its exit code, or `null` when it could not be started. */
  readonly code: number | null;
  /** What it printed on stderr (trimmed). */
  readonly stderr: string;

  /**
   * Make a command error.
   *
   * @example
   * ```ts
   * import { LabCommandError } from "./errors.ts";
   * const error = new LabCommandError(["ip", "netns", "add", "x"], 1, "File exists");
   * if (!error.message.includes("File exists")) throw new Error("Bad message");
   * if (error.code !== 1) throw new Error("Bad code");
   * ```
   */
  constructor(
    argv: readonly string[],
    code: number | null,
    stderr: string,
    options?: ErrorOptions,
  ) {
    const how = code === null ? "could not start" : `exited with code ${code}`;
    const detail = stderr.trim() === "" ? "" : `: ${stderr.trim()}`;
    super(`Command \`${argv.join(" ")}\` ${how}${detail}`, options);
    this.name = "LabCommandError";
    this.argv = argv;
    this.code = code;
    this.stderr = stderr.trim();
  }
}

/** Raised by `Lab.create` when namespaces with the lab's prefix already exist. */
export class LabExistsError extends Error {
  /** The prefix that is taken. */
  readonly prefix: string;
  /** The namespaces that already exist. */
  readonly namespaces: readonly string[];

  /**
   * Make an exists error.
   *
   * @example
   * ```ts
   * import { LabExistsError } from "./errors.ts";
   * const error = new LabExistsError("plab", ["plab-pub"]);
   * if (!error.message.includes("lab down")) throw new Error("Bad message");
   * ```
   */
  constructor(prefix: string, namespaces: readonly string[]) {
    super(
      `A lab with prefix '${prefix}' already exists (${namespaces.join(", ")}); ` +
        `remove it with \`deno task lab down --prefix ${prefix}\` or pick another prefix`,
    );
    this.name = "LabExistsError";
    this.prefix = prefix;
    this.namespaces = namespaces;
  }
}

/** Raised by `Lab.create` when building the topology failed; the cause holds the failure. */
export class LabSetupError extends Error {
  /**
   * Make a setup error.
   *
   * @example
   * ```ts
   * import { LabSetupError } from "./errors.ts";
   * const error = new LabSetupError("pl1", new Error("Boom"));
   * if (!error.message.includes("Boom")) throw new Error("Bad message");
   * ```
   */
  constructor(prefix: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super(
      `Cannot build lab '${prefix}': ${why}. Its namespaces were removed; ` +
        "check that the kernel has nf_tables, nf_nat and veth/bridge support",
      { cause },
    );
    this.name = "LabSetupError";
  }
}

/** Raised by `Lab.destroy` when some namespaces could not be removed. */
export class LabTeardownError extends Error {
  /** Namespaces still present. */
  readonly namespaces: readonly string[];

  /**
   * Make a teardown error.
   *
   * @example
   * ```ts
   * import { LabTeardownError } from "./errors.ts";
   * const error = new LabTeardownError(["pl1-pub"]);
   * if (!error.message.includes("ip netns del pl1-pub")) throw new Error("Bad message");
   * ```
   */
  constructor(namespaces: readonly string[], options?: ErrorOptions) {
    super(
      `Cannot remove lab namespaces ${namespaces.join(", ")}; remove them by hand with ` +
        namespaces.map((ns) => `\`ip netns del ${ns}\``).join(", "),
      options,
    );
    this.name = "LabTeardownError";
    this.namespaces = namespaces;
  }
}

/** Raised by `LabProcess` waits when the process ended or the time ran out first. */
export class LabProcessError extends Error {
  /**
   * Make a process error.
   *
   * @example
   * ```ts
   * import { LabProcessError } from "./errors.ts";
   * const error = new LabProcessError("Timed out after 10 ms waiting for 'ready'");
   * if (error.name !== "LabProcessError") throw new Error("Bad name");
   * ```
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LabProcessError";
  }
}
