/**
 * Metrics in the Prometheus text exposition format (version 0.0.4): a pure formatter
 * ({@linkcode formatPrometheus}), the mapping from the server's {@linkcode Counters} and
 * {@linkcode Gauges} to `peerlink_*` metric families ({@linkcode serverMetricFamilies}), the
 * process's own figures ({@linkcode sampleProcess}), and the library's per-path connection
 * counters ({@linkcode pathStatsFamilies}) for programs that embed the client.
 *
 * Families (`_total` ones are counters, the others gauges):
 *
 * | family | labels | what |
 * | --- | --- | --- |
 * | `peerlink_connections_total` | `service` | connections accepted |
 * | `peerlink_connections_open` | `service` | connections open now |
 * | `peerlink_connections_refused_total` | `service` | connections refused by the connection limits |
 * | `peerlink_rooms` | | gday rooms held now |
 * | `peerlink_room_events_total` | `event` | rooms `created`, `exchanged`, `expired`, `abandoned` |
 * | `peerlink_exchanges_total` | `service` | completed introductions: gday rooms, mediator pairings, broker connections, chat pairings |
 * | `peerlink_errors_total` | `service`, `kind` | error replies and bad input, by kind (`ErrorSyntax`, `bad_message`, `bad-hello`, ...) |
 * | `peerlink_rate_limited_total` | `service` | requests refused by a rate limit |
 * | `peerlink_punch_attempts_total` | `service` | hole-punch attempts the server takes part in (broker connection requests) |
 * | `peerlink_punch_outcomes_total` | `service`, `path`, `result` | their outcomes, as the peers report them |
 * | `peerlink_path_events_total` | `path`, `outcome` | the client library's `PathStats`, for embedders ({@linkcode pathStatsFamilies}) |
 * | `peerlink_relay_bytes_total` | | bytes relayed |
 * | `peerlink_relay_circuits_total` | `event` | relay circuits `opened`, `closed`, `refused` |
 * | `peerlink_relay_circuits_open`, `peerlink_relay_circuits_waiting` | | relay circuits now |
 * | `peerlink_broker_receivers`, `peerlink_broker_pending_requests` | | broker tables now |
 * | `peerlink_mediator_waiting` | `mode` | mediator registrations waiting for their peer |
 * | `peerlink_chat_users`, `peerlink_chat_busy_pairs` | | chat introducer tables now |
 * | `peerlink_stun_requests_total` | `result` | STUN requests answered |
 * | `peerlink_http_requests_total` | `status` | HTTP answers |
 * | `peerlink_process_*` | | resident memory, V8 heap, open file descriptors, uptime, start time |
 *
 * Every other counter a service keeps is exported too, as `peerlink_<name>_total` with its label
 * (see {@linkcode COUNTER_FAMILIES}); a counter the table does not know gets the label `kind`.
 *
 * The server cannot see the peers' hole punching, except through the broker, whose receivers
 * report how each connection formed (`peerlink_punch_outcomes_total`). A program that connects
 * peers with the library keeps a `PathStats` and exports it with {@linkcode pathStatsFamilies}
 * (or passes it to the metrics route: `metricsPlugin({ pathStats })`).
 *
 * @module
 */

import type { Counters, Gauges } from "./stats.ts";

/** The `Content-Type` of the Prometheus text format, version 0.0.4. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A metric family's type (the text format's `# TYPE`). */
export type MetricType = "counter" | "gauge" | "untyped";

/** One sample: label pairs and a value. */
export interface MetricSample {
  /** Label names and values; names match `[a-zA-Z_][a-zA-Z0-9_]*`, values are any text. */
  labels?: Readonly<Record<string, string>>;
  /** The value (`NaN` and infinities are written as Prometheus spells them). */
  value: number;
}

/** A metric family: a name, its help text, its type and its samples. */
export interface MetricFamily {
  /** The name, matching `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  name: string;
  /** One line of help (newlines and backslashes are escaped). */
  help: string;
  /** Counter, gauge or untyped. */
  type: MetricType;
  /** The samples; a family with none is still described. */
  samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Escape a label value for the text format: backslash, double quote and line feed.
 *
 * @example
 * ```ts
 * import { escapeLabelValue } from "./metrics.ts";
 * if (escapeLabelValue('a"b\\c\nd') !== 'a\\"b\\\\c\\nd') throw new Error("Bad escape");
 * ```
 */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

/**
 * Escape a help text for the text format: backslash and line feed.
 *
 * @example
 * ```ts
 * import { escapeHelp } from "./metrics.ts";
 * if (escapeHelp('a\\b\n"c"') !== 'a\\\\b\\n"c"') throw new Error("Bad escape");
 * ```
 */
export function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

/**
 * A sample value as the text format spells it: `NaN`, `+Inf`, `-Inf`, or the number.
 *
 * @example
 * ```ts
 * import { formatMetricValue } from "./metrics.ts";
 * if (formatMetricValue(Infinity) !== "+Inf" || formatMetricValue(0.5) !== "0.5") throw new Error("Bad value");
 * ```
 */
export function formatMetricValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Object.is(value, -0)) return "0";
  return String(value);
}

/**
 * Write metric families in the Prometheus text format 0.0.4: for each family `# HELP`, `# TYPE`,
 * then one line per sample. Pure.
 *
 * @throws {RangeError} for an invalid metric or label name, or a family named twice.
 *
 * @example
 * ```ts
 * import { formatPrometheus } from "./metrics.ts";
 * const text = formatPrometheus([{
 *   name: "peerlink_connections_total", help: "Connections accepted.", type: "counter",
 *   samples: [{ labels: { service: "gday" }, value: 3 }],
 * }]);
 * const expected = "# HELP peerlink_connections_total Connections accepted.\n" +
 *   "# TYPE peerlink_connections_total counter\n" +
 *   'peerlink_connections_total{service="gday"} 3\n';
 * if (text !== expected) throw new Error(text);
 * ```
 */
export function formatPrometheus(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  let out = "";
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) {
      throw new RangeError(`Metric name "${family.name}" is not valid`);
    }
    if (seen.has(family.name)) throw new RangeError(`Metric family "${family.name}" given twice`);
    seen.add(family.name);
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n`;
    out += `# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const pairs = Object.entries(sample.labels ?? {});
      let labels = "";
      if (pairs.length > 0) {
        labels = "{" + pairs.map(([name, value]) => {
          if (!LABEL_NAME.test(name) || name.startsWith("__")) {
            throw new RangeError(`Label name "${name}" of ${family.name} is not valid`);
          }
          return `${name}="${escapeLabelValue(value)}"`;
        }).join(",") + "}";
      }
      out += `${family.name}${labels} ${formatMetricValue(sample.value)}\n`;
    }
  }
  return out;
}

/** How one of the server's counters or gauges becomes a metric family. */
export interface MetricMapping {
  /** The family's name. */
  family: string;
  /** The label name its one label goes under (none for an unlabelled value). */
  label?: string;
  /** The help text. */
  help: string;
}

/**
 * The server's counters (`Counters` names) and the families they are exported as. A counter
 * not listed here is exported as `peerlink_<name>_total{kind="<label>"}`.
 */
export const COUNTER_FAMILIES: Readonly<Record<string, MetricMapping>> = Object.freeze({
  connections: {
    family: "peerlink_connections_total",
    label: "service",
    help: "Client connections accepted, by service.",
  },
  connections_refused: {
    family: "peerlink_connections_refused_total",
    label: "service",
    help: "Client connections refused by the connection limits, by service.",
  },
  gday_rooms: {
    family: "peerlink_room_events_total",
    label: "event",
    help: "gday room events: created, exchanged, expired, abandoned.",
  },
  gday_requests: {
    family: "peerlink_gday_requests_total",
    label: "type",
    help: "gday requests by message type.",
  },
  gday_errors: {
    family: "peerlink_gday_error_replies_total",
    label: "reply",
    help: "gday error replies sent, by reply.",
  },
  gday_rate_limited: {
    family: "peerlink_gday_rate_limited_total",
    help: "gday requests refused by the rate limit.",
  },
  gday_idle_closed: {
    family: "peerlink_gday_idle_closed_total",
    help: "gday connections closed by the idle timeout.",
  },
  broker_requests: {
    family: "peerlink_broker_requests_total",
    help: "Broker connection requests (step 1).",
  },
  broker_registrations: {
    family: "peerlink_broker_registrations_total",
    help: "Broker receiver registrations.",
  },
  broker_dropped: {
    family: "peerlink_broker_dropped_total",
    help: "Broker receivers dropped for silence.",
  },
  broker_errors: {
    family: "peerlink_broker_errors_total",
    label: "code",
    help: "Broker error replies, by code.",
  },
  broker_outcomes: {
    family: "peerlink_broker_outcomes_total",
    label: "outcome",
    help: "Broker connection requests ended, by how the connection formed or why it failed.",
  },
  broker_step_timeouts: {
    family: "peerlink_broker_step_timeouts_total",
    label: "step",
    help: "Broker connection requests that timed out, by the step waited for.",
  },
  broker_rate_limited: {
    family: "peerlink_broker_rate_limited_total",
    label: "message",
    help: "Broker messages refused by the rate limit, by message.",
  },
  relay_circuits: {
    family: "peerlink_relay_circuits_total",
    label: "event",
    help: "Relay circuits opened, closed and refused.",
  },
  relay_refused: {
    family: "peerlink_relay_refused_total",
    label: "code",
    help: "Relay connections refused, by code.",
  },
  relay_bytes: { family: "peerlink_relay_bytes_total", help: "Bytes relayed, both directions." },
  relay_circuit_end: {
    family: "peerlink_relay_circuit_end_total",
    label: "reason",
    help: "Relay circuits ended, by reason.",
  },
  relay_waits: {
    family: "peerlink_relay_waits_total",
    label: "outcome",
    help: "Relay waits for the second peer that ended unpaired.",
  },
  relay_rate_limited: {
    family: "peerlink_relay_rate_limited_total",
    help: "Relay hellos refused by the rate limit.",
  },
  stun_requests: {
    family: "peerlink_stun_requests_total",
    label: "result",
    help: "STUN requests answered, by result (binding, error).",
  },
  stun_dropped: {
    family: "peerlink_stun_dropped_total",
    label: "reason",
    help: "STUN datagrams dropped without an answer, by reason.",
  },
  stun_rate_limited: {
    family: "peerlink_stun_rate_limited_total",
    help: "STUN datagrams dropped by the rate limit.",
  },
  chat_requests: {
    family: "peerlink_chat_requests_total",
    label: "type",
    help: "Chat introducer datagrams handled, by message type.",
  },
  chat_dropped: {
    family: "peerlink_chat_dropped_total",
    label: "reason",
    help: "Chat introducer datagrams dropped, by reason.",
  },
  chat_registrations: {
    family: "peerlink_chat_registrations_total",
    label: "event",
    help: "Chat users registered and expired.",
  },
  chat_sessions: {
    family: "peerlink_chat_sessions_total",
    label: "event",
    help: "Chat pairings and their ends.",
  },
  mediator_native: {
    family: "peerlink_mediator_native_total",
    label: "event",
    help: "Mediator native-mode events.",
  },
  mediator_p2psc: {
    family: "peerlink_mediator_p2psc_total",
    label: "event",
    help: "Mediator p2psc-mode events.",
  },
  mediator_refused: {
    family: "peerlink_mediator_refused_total",
    label: "reason",
    help: "Mediator connections refused before a mode was chosen, by reason.",
  },
  http_requests: {
    family: "peerlink_http_requests_total",
    label: "status",
    help: "HTTP answers, by status code.",
  },
});

/** The server's gauges (`Gauges` names) and the families they are exported as. */
export const GAUGE_FAMILIES: Readonly<Record<string, MetricMapping>> = Object.freeze({
  connections_open: {
    family: "peerlink_connections_open",
    label: "service",
    help: "Client connections open now, by service.",
  },
  rooms: { family: "peerlink_rooms", help: "gday rooms held now." },
  rate_limit_clients: {
    family: "peerlink_rate_limit_clients",
    help: "Clients with an open window in the shared rate limiter.",
  },
  broker_receivers: { family: "peerlink_broker_receivers", help: "Broker receivers registered." },
  broker_pending_requests: {
    family: "peerlink_broker_pending_requests",
    help: "Broker connection requests in progress.",
  },
  mediator_waiting: {
    family: "peerlink_mediator_waiting",
    label: "mode",
    help: "Mediator registrations waiting for their peer, by mode.",
  },
  chat_users: { family: "peerlink_chat_users", help: "Chat users registered." },
  chat_busy_pairs: {
    family: "peerlink_chat_busy_pairs",
    help: "Chat user pairs introduced and still busy.",
  },
  relay_circuits_open: {
    family: "peerlink_relay_circuits_open",
    help: "Relay circuits open (both peers joined).",
  },
  relay_circuits_waiting: {
    family: "peerlink_relay_circuits_waiting",
    help: "Relay circuits whose first peer waits for the second.",
  },
});

/** The mediator's events that are errors (refusals), for `peerlink_errors_total`. */
const MEDIATOR_ERROR_EVENTS = new Set([
  "bad_message",
  "bad_signature",
  "bad_answer",
  "bad_key",
  "version",
  "self",
  "ipv6",
  "busy",
  "step_timeout",
  "timeout",
  "wait_timeout",
  "handoff_failed",
  "replaced",
]);

/** Broker outcomes that are connections (the others are error codes). */
const BROKER_VIAS = new Set(["twelve-step", "simultaneous-open"]);

/** STUN drops that are not the client's fault (not errors by kind). */
const STUN_NOT_ERRORS = new Set(["not-ready"]);

/** Process figures for the `peerlink_process_*` families. */
export interface ProcessSample {
  /** Resident set size, bytes. */
  rssBytes: number;
  /** V8 heap used, bytes. */
  heapUsedBytes: number;
  /** V8 heap reserved, bytes. */
  heapTotalBytes: number;
  /** Memory outside the V8 heap held by JavaScript objects (buffers), bytes. */
  externalBytes: number;
  /** Open file descriptors, or `null` when `/proc/self/fd` cannot be read. */
  openFds: number | null;
  /** The soft limit on open file descriptors, or `null` when unknown. */
  maxFds: number | null;
  /** Seconds since the process started. */
  uptimeSeconds: number;
  /** When the process started, Unix seconds. */
  startTimeSeconds: number;
}

/** The library's per-path counters, as `PathStats.snapshot()` returns them. */
export interface PathStatsRow {
  /** The path (`direct-tcp`, `direct-udp`, `relay`). */
  path: string;
  /** `attempted`, `won`, `lost` or `failed`. */
  outcome: string;
  /** How many. */
  count: number;
}

/** What {@linkcode serverMetricFamilies} turns into families. */
export interface ServerMetricsInput {
  /** The counters, as `Counters.snapshot()`. */
  counters: Readonly<Record<string, number>>;
  /** The gauges, as `Gauges.snapshot()`. */
  gauges: Readonly<Record<string, number>>;
  /** The process figures, or `null` to leave them out. */
  process?: ProcessSample | null;
  /** Library path counters to include, when the program keeps some. */
  paths?: readonly PathStatsRow[];
  /** The version named by `peerlink_build_info`. @default {"unknown"} */
  version?: string;
}

/** Split `name{label}` into its parts. */
function splitKey(key: string): [string, string | undefined] {
  const open = key.indexOf("{");
  if (open < 0 || !key.endsWith("}")) return [key, undefined];
  return [key.slice(0, open), key.slice(open + 1, -1)];
}

/** Families in the order they are first added, samples merged by labels. */
class FamilySet {
  #families = new Map<string, MetricFamily & { samples: MetricSample[] }>();
  #index = new Map<string, MetricSample>();

  declare(name: string, type: MetricType, help: string): void {
    if (!this.#families.has(name)) this.#families.set(name, { name, type, help, samples: [] });
  }

  add(
    name: string,
    type: MetricType,
    help: string,
    value: number,
    labels?: Record<string, string>,
  ): void {
    this.declare(name, type, help);
    const family = this.#families.get(name)!;
    const key = `${name} ${JSON.stringify(labels ?? {})}`;
    const existing = this.#index.get(key);
    if (existing !== undefined) {
      existing.value += value;
      return;
    }
    const sample: MetricSample = { value, ...(labels ? { labels } : {}) };
    this.#index.set(key, sample);
    family.samples.push(sample);
  }

  list(): MetricFamily[] {
    return [...this.#families.values()];
  }
}

function fallbackName(name: string, suffix: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_]/g, "_");
  return `peerlink_${safe}${suffix}`;
}

/**
 * Turn the server's counters and gauges, the process figures and (optionally) library path
 * counters into `peerlink_*` metric families. Pure: the same input gives the same families.
 *
 * @example
 * ```ts
 * import { formatPrometheus, serverMetricFamilies } from "./metrics.ts";
 * const text = formatPrometheus(serverMetricFamilies({
 *   counters: { "connections{gday}": 2, "gday_rooms{exchanged}": 1, "gday_errors{ErrorSyntax}": 1 },
 *   gauges: { rooms: 0, "connections_open{gday}": 0 },
 * }));
 * if (!text.includes('peerlink_connections_total{service="gday"} 2\n')) throw new Error(text);
 * if (!text.includes('peerlink_exchanges_total{service="gday"} 1\n')) throw new Error(text);
 * if (!text.includes('peerlink_errors_total{service="gday",kind="ErrorSyntax"} 1\n')) throw new Error(text);
 * if (!text.includes("peerlink_rooms 0\n")) throw new Error(text);
 * ```
 */
export function serverMetricFamilies(input: ServerMetricsInput): MetricFamily[] {
  const set = new FamilySet();
  const counters = Object.entries(input.counters).map(([key, value]) =>
    [
      ...splitKey(key),
      value,
    ] as const
  );

  // The cross-service families first: what dashboards and alerts use.
  set.declare(
    "peerlink_connections_total",
    "counter",
    COUNTER_FAMILIES.connections!.help,
  );
  set.declare("peerlink_connections_open", "gauge", GAUGE_FAMILIES.connections_open!.help);
  set.declare(
    "peerlink_connections_refused_total",
    "counter",
    COUNTER_FAMILIES.connections_refused!.help,
  );
  set.declare("peerlink_rooms", "gauge", GAUGE_FAMILIES.rooms!.help);
  set.declare("peerlink_room_events_total", "counter", COUNTER_FAMILIES.gday_rooms!.help);
  const exchangesHelp = "Completed introductions: gday rooms exchanged, mediator pairings, " +
    "broker connections formed, chat pairings.";
  const errorsHelp = "Error replies and bad input, by service and kind (gday error replies, bad " +
    "frames and messages, refusals, dropped datagrams, HTTP 5xx).";
  const rateLimitedHelp = "Requests refused by a rate limit, by service.";
  const punchAttemptsHelp = "Hole-punch attempts the server takes part in (broker connection " +
    "requests); the peers' own path attempts are the library's PathStats.";
  const punchOutcomesHelp = "Outcomes of the hole-punch attempts the server takes part in, as " +
    "the peers report them: the path that connected, or the error.";
  set.declare("peerlink_exchanges_total", "counter", exchangesHelp);
  set.declare("peerlink_errors_total", "counter", errorsHelp);
  set.declare("peerlink_rate_limited_total", "counter", rateLimitedHelp);
  set.declare("peerlink_punch_attempts_total", "counter", punchAttemptsHelp);
  set.declare("peerlink_punch_outcomes_total", "counter", punchOutcomesHelp);
  const exchanges = (service: string, value: number): void =>
    set.add("peerlink_exchanges_total", "counter", exchangesHelp, value, { service });
  const errors = (service: string, kind: string, value: number): void =>
    set.add("peerlink_errors_total", "counter", errorsHelp, value, { service, kind });
  const rateLimited = (service: string, value: number): void =>
    set.add("peerlink_rate_limited_total", "counter", rateLimitedHelp, value, { service });

  for (const [name, label, value] of counters) {
    switch (name) {
      case "gday_rooms":
        if (label === "exchanged") exchanges("gday", value);
        break;
      case "gday_errors":
        errors("gday", label ?? "unknown", value);
        break;
      case "gday_rate_limited":
        rateLimited("gday", value);
        break;
      case "broker_errors":
        errors("broker", label ?? "unknown", value);
        break;
      case "broker_rate_limited":
        rateLimited("broker", value);
        break;
      case "broker_requests":
        set.add("peerlink_punch_attempts_total", "counter", punchAttemptsHelp, value, {
          service: "broker",
        });
        break;
      case "broker_outcomes": {
        const connected = label !== undefined && BROKER_VIAS.has(label);
        if (connected) exchanges("broker", value);
        set.add("peerlink_punch_outcomes_total", "counter", punchOutcomesHelp, value, {
          service: "broker",
          path: connected ? label : "none",
          result: connected ? "connected" : label ?? "unknown",
        });
        break;
      }
      case "relay_refused":
        errors("relay", label ?? "unknown", value);
        break;
      case "relay_rate_limited":
        rateLimited("relay", value);
        break;
      case "stun_dropped":
        if (label !== undefined && !STUN_NOT_ERRORS.has(label)) errors("stun", label, value);
        break;
      case "stun_internal_errors":
        errors("stun", "internal", value);
        break;
      case "stun_rate_limited":
        rateLimited("stun", value);
        break;
      case "chat_dropped":
        if (label === "rate_limited") rateLimited("chat", value);
        else errors("chat", label ?? "unknown", value);
        break;
      case "chat_handler_errors":
        errors("chat", "internal", value);
        break;
      case "chat_sessions":
        if (label === "paired") exchanges("chat", value);
        break;
      case "mediator_native":
      case "mediator_p2psc":
        if (label === "paired") exchanges("mediator", value);
        else if (label === "rate_limited") rateLimited("mediator", value);
        else if (label !== undefined && MEDIATOR_ERROR_EVENTS.has(label)) {
          errors("mediator", label, value);
        }
        break;
      case "mediator_refused":
        if (label !== "native" && label !== "p2psc") errors("mediator", label ?? "unknown", value);
        break;
      case "http_requests":
        if (label !== undefined && label.startsWith("5")) errors("http", `status_${label}`, value);
        break;
    }
  }

  // Then every counter under its own family.
  for (const [name, label, value] of counters) {
    const mapping = COUNTER_FAMILIES[name];
    const family = mapping?.family ?? fallbackName(name, "_total");
    const help = mapping?.help ?? `The server's ${name} counter.`;
    const labelName = mapping?.label ?? "kind";
    set.add(
      family,
      "counter",
      help,
      value,
      label === undefined ? undefined : {
        [labelName]: label,
      },
    );
  }
  for (const [key, value] of Object.entries(input.gauges)) {
    const [name, label] = splitKey(key);
    const mapping = GAUGE_FAMILIES[name];
    const family = mapping?.family ?? fallbackName(name, "");
    const help = mapping?.help ?? `The server's ${name} gauge.`;
    const labelName = mapping?.label ?? "kind";
    set.add(
      family,
      "gauge",
      help,
      value,
      label === undefined ? undefined : {
        [labelName]: label,
      },
    );
  }

  if (input.paths !== undefined) {
    set.declare(
      "peerlink_path_events_total",
      "counter",
      "Connection paths of the library's connectPeer calls in this process (PathStats): " +
        "attempted, then won, lost or failed.",
    );
    for (const row of input.paths) {
      set.add("peerlink_path_events_total", "counter", "", row.count, {
        path: row.path,
        outcome: row.outcome,
      });
    }
  }

  const p = input.process;
  if (p !== undefined && p !== null) {
    const gauge = (name: string, help: string, value: number): void =>
      set.add(name, "gauge", help, value);
    gauge("peerlink_process_resident_memory_bytes", "Resident set size, bytes.", p.rssBytes);
    gauge("peerlink_process_heap_used_bytes", "V8 heap used, bytes.", p.heapUsedBytes);
    gauge("peerlink_process_heap_total_bytes", "V8 heap reserved, bytes.", p.heapTotalBytes);
    gauge(
      "peerlink_process_external_memory_bytes",
      "Memory held by JavaScript objects outside the V8 heap (buffers), bytes.",
      p.externalBytes,
    );
    if (p.openFds !== null) {
      gauge("peerlink_process_open_fds", "Open file descriptors.", p.openFds);
    }
    if (p.maxFds !== null) {
      gauge("peerlink_process_max_fds", "Limit on open file descriptors (soft).", p.maxFds);
    }
    gauge("peerlink_process_uptime_seconds", "Seconds since the process started.", p.uptimeSeconds);
    gauge(
      "peerlink_process_start_time_seconds",
      "When the process started, Unix time in seconds.",
      p.startTimeSeconds,
    );
  }
  set.add("peerlink_build_info", "gauge", "Always 1; the labels name the build.", 1, {
    version: input.version ?? "unknown",
    deno: typeof Deno === "undefined" ? "unknown" : Deno.version.deno,
  });
  return set.list();
}

/**
 * The library's per-path connection counters (`PathStats` of `client/path_stats.ts`, or any
 * object with the same `snapshot()`) as the `peerlink_path_events_total{path,outcome}` family,
 * for a program that connects peers and serves its own metrics.
 *
 * @example
 * ```ts
 * import { formatPrometheus, pathStatsFamilies } from "./metrics.ts";
 * import { PathStats } from "../client/path_stats.ts";
 * const stats = new PathStats();
 * stats.record("direct-udp", "attempted");
 * stats.record("direct-udp", "won");
 * const text = formatPrometheus(pathStatsFamilies(stats));
 * if (!text.includes('peerlink_path_events_total{path="direct-udp",outcome="won"} 1')) throw new Error(text);
 * ```
 */
export function pathStatsFamilies(stats: { snapshot(): readonly PathStatsRow[] }): MetricFamily[] {
  return serverMetricFamilies({ counters: {}, gauges: {}, paths: stats.snapshot() })
    .filter((f) => f.name === "peerlink_path_events_total");
}

const PROCESS_STARTED_MS = Date.now() - performance.now();

async function countOpenFds(): Promise<number | null> {
  try {
    let n = 0;
    for await (const _ of Deno.readDir("/proc/self/fd")) n++;
    // The directory being listed is itself an open descriptor while it is read.
    return Math.max(0, n - 1);
  } catch {
    return null;
  }
}

async function readMaxFds(): Promise<number | null> {
  try {
    const limits = await Deno.readTextFile("/proc/self/limits");
    const match = /^Max open files\s+(\d+)/m.exec(limits);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Read this process's memory, open file descriptors (`/proc/self/fd`, Linux; `null` elsewhere or
 * without read permission) and uptime.
 *
 * @example
 * ```ts
 * import { sampleProcess } from "./metrics.ts";
 * const sample = await sampleProcess();
 * if (!(sample.rssBytes > 0 && sample.uptimeSeconds >= 0)) throw new Error("Bad sample");
 * ```
 */
export async function sampleProcess(): Promise<ProcessSample> {
  const memory = Deno.memoryUsage();
  const [openFds, maxFds] = await Promise.all([countOpenFds(), readMaxFds()]);
  const now = Date.now();
  return {
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    openFds,
    maxFds,
    uptimeSeconds: Math.max(0, (now - PROCESS_STARTED_MS) / 1000),
    startTimeSeconds: PROCESS_STARTED_MS / 1000,
  };
}

/** Options for {@linkcode collectServerMetrics}. */
export interface CollectMetricsOptions {
  /** Library path counters to include (a `PathStats`). */
  pathStats?: { snapshot(): readonly PathStatsRow[] };
  /** Leave out the process figures (tests with fixed output). @default {true} */
  process?: boolean;
  /** The version named by `peerlink_build_info`. @default {"unknown"} */
  version?: string;
}

/**
 * Everything `/metrics` shows, as text: the server's counters and gauges, the process figures
 * and optional library path counters.
 *
 * @example
 * ```ts
 * import { collectServerMetrics } from "./metrics.ts";
 * import { Counters, Gauges } from "./stats.ts";
 * const counters = new Counters();
 * counters.inc("connections", "gday");
 * const text = await collectServerMetrics(counters, new Gauges());
 * if (!text.includes('peerlink_connections_total{service="gday"} 1')) throw new Error(text);
 * if (!text.includes("# TYPE peerlink_process_resident_memory_bytes gauge")) throw new Error(text);
 * ```
 */
export async function collectServerMetrics(
  counters: Counters,
  gauges: Gauges,
  options: CollectMetricsOptions = {},
): Promise<string> {
  const process = options.process === false ? null : await sampleProcess();
  return formatPrometheus(serverMetricFamilies({
    counters: counters.snapshot(),
    gauges: gauges.snapshot(),
    process,
    paths: options.pathStats?.snapshot(),
    version: options.version,
  }));
}
