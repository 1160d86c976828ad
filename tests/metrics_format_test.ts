/**
 * The Prometheus text format (test vectors), the mapping of the server's counters and gauges to
 * `peerlink_*` families, readiness checks and gauges.
 */

import assert from "node:assert/strict";
import {
  escapeHelp,
  escapeLabelValue,
  formatMetricValue,
  formatPrometheus,
  type MetricFamily,
  pathStatsFamilies,
  sampleProcess,
  serverMetricFamilies,
} from "../server/metrics.ts";
import { ReadinessChecks } from "../server/health.ts";
import { Gauges } from "../server/stats.ts";
import { PathStats } from "../client/path_stats.ts";

/** Parse the text format back: sample lines as `name{labels}` → value, and HELP/TYPE per name. */
function parseExposition(text: string): {
  samples: Map<string, number>;
  types: Map<string, string>;
  helps: Map<string, string>;
} {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      helps.set(help[1]!, help[2]!);
      continue;
    }
    const type = /^# TYPE (\S+) (counter|gauge|untyped)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    assert.ok(sample, `Not a sample line: ${line}`);
    samples.set(sample[1]!, Number(sample[2]!.replace("+Inf", "Infinity")));
  }
  return { samples, types, helps };
}

Deno.test("formatPrometheus() writes the 0.0.4 text format (vectors)", () => {
  const families: MetricFamily[] = [
    {
      name: "peerlink_connections_total",
      help: "Client connections accepted, by service.",
      type: "counter",
      samples: [
        { labels: { service: "gday" }, value: 12 },
        { labels: { service: "relay" }, value: 0 },
      ],
    },
    { name: "peerlink_rooms", help: "Rooms now.", type: "gauge", samples: [{ value: 3 }] },
    { name: "peerlink_empty_total", help: "Nothing yet.", type: "counter", samples: [] },
    {
      name: "peerlink_weird",
      help: 'Help with a backslash \\ and a\nnewline and "quotes"',
      type: "untyped",
      samples: [
        { labels: { path: 'C:\\dir "x"\nnext', b: "" }, value: 1.5 },
        { labels: { v: "nan" }, value: NaN },
        { labels: { v: "inf" }, value: Infinity },
        { labels: { v: "-inf" }, value: -Infinity },
        { labels: { v: "neg zero" }, value: -0 },
        { labels: { v: "big" }, value: 2 ** 53 },
        { labels: { v: "small" }, value: 1e-7 },
      ],
    },
  ];
  const expected = [
    "# HELP peerlink_connections_total Client connections accepted, by service.",
    "# TYPE peerlink_connections_total counter",
    'peerlink_connections_total{service="gday"} 12',
    'peerlink_connections_total{service="relay"} 0',
    "# HELP peerlink_rooms Rooms now.",
    "# TYPE peerlink_rooms gauge",
    "peerlink_rooms 3",
    "# HELP peerlink_empty_total Nothing yet.",
    "# TYPE peerlink_empty_total counter",
    '# HELP peerlink_weird Help with a backslash \\\\ and a\\nnewline and "quotes"',
    "# TYPE peerlink_weird untyped",
    'peerlink_weird{path="C:\\\\dir \\"x\\"\\nnext",b=""} 1.5',
    'peerlink_weird{v="nan"} NaN',
    'peerlink_weird{v="inf"} +Inf',
    'peerlink_weird{v="-inf"} -Inf',
    'peerlink_weird{v="neg zero"} 0',
    'peerlink_weird{v="big"} 9007199254740992',
    'peerlink_weird{v="small"} 1e-7',
    "",
  ].join("\n");
  assert.equal(formatPrometheus(families), expected);
  assert.equal(formatPrometheus([]), "");
});

Deno.test("formatPrometheus() refuses bad names and families given twice", () => {
  const family = (name: string, labels: Record<string, string> = {}): MetricFamily => ({
    name,
    help: "h",
    type: "gauge",
    samples: [{ labels, value: 1 }],
  });
  for (const name of ["", "1abc", "peerlink-x", "a b", "ünï"]) {
    assert.throws(() => formatPrometheus([family(name)]), RangeError, name);
  }
  for (const label of ["", "1a", "a-b", "__reserved", "a b"]) {
    assert.throws(() => formatPrometheus([family("ok", { [label]: "v" })]), RangeError, label);
  }
  assert.throws(() => formatPrometheus([family("a"), family("a")]), /twice/);
  // Colons are allowed in metric names (recording rules), not in label names.
  assert.ok(formatPrometheus([family("job:peerlink:rate")]).includes("job:peerlink:rate 1\n"));
});

Deno.test("escapeLabelValue(), escapeHelp(), formatMetricValue() vectors", () => {
  assert.equal(escapeLabelValue("plain"), "plain");
  assert.equal(escapeLabelValue('\\"\n'), '\\\\\\"\\n');
  assert.equal(escapeLabelValue("tab\tand unicode ü"), "tab\tand unicode ü");
  assert.equal(escapeHelp('"\\\n'), '"\\\\\\n');
  assert.equal(formatMetricValue(42), "42");
  assert.equal(formatMetricValue(-1.25), "-1.25");
  assert.equal(formatMetricValue(NaN), "NaN");
  assert.equal(formatMetricValue(-Infinity), "-Inf");
});

Deno.test("serverMetricFamilies() maps counters and gauges to peerlink_* families", () => {
  const text = formatPrometheus(serverMetricFamilies({
    counters: {
      "connections{gday}": 10,
      "connections{broker}": 4,
      "connections_refused{gday}": 1,
      "gday_rooms{created}": 5,
      "gday_rooms{exchanged}": 3,
      "gday_rooms{expired}": 1,
      "gday_errors{ErrorSyntax}": 2,
      "gday_errors{ErrorNoSuchRoomID}": 1,
      "gday_rate_limited": 7,
      "broker_requests": 6,
      "broker_outcomes{twelve-step}": 2,
      "broker_outcomes{simultaneous-open}": 1,
      "broker_outcomes{no_path}": 3,
      "broker_rate_limited{register}": 1,
      "broker_rate_limited{connect}": 2,
      "relay_bytes": 1_000_000,
      "relay_circuits{opened}": 2,
      "relay_refused{bad-hello}": 4,
      "stun_requests{binding}": 9,
      "stun_dropped{bad-fingerprint}": 2,
      "stun_dropped{not-ready}": 1,
      "chat_dropped{malformed}": 5,
      "chat_dropped{rate_limited}": 8,
      "chat_sessions{paired}": 1,
      "mediator_native{paired}": 2,
      "mediator_native{bad_signature}": 1,
      "mediator_p2psc{paired}": 1,
      "mediator_p2psc{rate_limited}": 1,
      "mediator_refused{unknown_protocol}": 3,
      "http_requests{200}": 4,
      "http_requests{500}": 1,
      'some_new_counter{odd "label"}': 1,
    },
    gauges: {
      "connections_open{gday}": 2,
      rooms: 2,
      broker_receivers: 3,
      "mediator_waiting{native}": 1,
      chat_users: 4,
      relay_circuits_open: 1,
    },
    paths: [{ path: "relay", outcome: "won", count: 2 }],
    process: {
      rssBytes: 1000,
      heapUsedBytes: 10,
      heapTotalBytes: 20,
      externalBytes: 5,
      openFds: 12,
      maxFds: 1024,
      uptimeSeconds: 3.5,
      startTimeSeconds: 1_700_000_000,
    },
    version: "9.9.9",
  }));
  const { samples, types } = parseExposition(text);
  const expect: [string, number][] = [
    ['peerlink_connections_total{service="gday"}', 10],
    ['peerlink_connections_total{service="broker"}', 4],
    ['peerlink_connections_open{service="gday"}', 2],
    ['peerlink_connections_refused_total{service="gday"}', 1],
    ["peerlink_rooms", 2],
    ['peerlink_room_events_total{event="created"}', 5],
    ['peerlink_room_events_total{event="exchanged"}', 3],
    ['peerlink_exchanges_total{service="gday"}', 3],
    ['peerlink_exchanges_total{service="broker"}', 3],
    ['peerlink_exchanges_total{service="mediator"}', 3],
    ['peerlink_exchanges_total{service="chat"}', 1],
    ['peerlink_errors_total{service="gday",kind="ErrorSyntax"}', 2],
    ['peerlink_errors_total{service="gday",kind="ErrorNoSuchRoomID"}', 1],
    ['peerlink_errors_total{service="relay",kind="bad-hello"}', 4],
    ['peerlink_errors_total{service="stun",kind="bad-fingerprint"}', 2],
    ['peerlink_errors_total{service="chat",kind="malformed"}', 5],
    ['peerlink_errors_total{service="mediator",kind="bad_signature"}', 1],
    ['peerlink_errors_total{service="mediator",kind="unknown_protocol"}', 3],
    ['peerlink_errors_total{service="http",kind="status_500"}', 1],
    ['peerlink_rate_limited_total{service="gday"}', 7],
    ['peerlink_rate_limited_total{service="broker"}', 3],
    ['peerlink_rate_limited_total{service="chat"}', 8],
    ['peerlink_rate_limited_total{service="mediator"}', 1],
    ['peerlink_punch_attempts_total{service="broker"}', 6],
    ['peerlink_punch_outcomes_total{service="broker",path="twelve-step",result="connected"}', 2],
    [
      'peerlink_punch_outcomes_total{service="broker",path="simultaneous-open",result="connected"}',
      1,
    ],
    ['peerlink_punch_outcomes_total{service="broker",path="none",result="no_path"}', 3],
    ['peerlink_path_events_total{path="relay",outcome="won"}', 2],
    ["peerlink_relay_bytes_total", 1_000_000],
    ['peerlink_relay_circuits_total{event="opened"}', 2],
    ["peerlink_relay_circuits_open", 1],
    ["peerlink_broker_receivers", 3],
    ['peerlink_mediator_waiting{mode="native"}', 1],
    ["peerlink_chat_users", 4],
    ['peerlink_stun_requests_total{result="binding"}', 9],
    ['peerlink_gday_error_replies_total{reply="ErrorSyntax"}', 2],
    ['peerlink_http_requests_total{status="200"}', 4],
    ['peerlink_some_new_counter_total{kind="odd \\"label\\""}', 1],
    ["peerlink_process_resident_memory_bytes", 1000],
    ["peerlink_process_open_fds", 12],
    ["peerlink_process_uptime_seconds", 3.5],
  ];
  for (const [key, value] of expect) assert.equal(samples.get(key), value, key);
  // A STUN drop that is not the client's fault is not an error by kind.
  assert.ok(![...samples.keys()].some((k) => k.includes('kind="not-ready"')));
  assert.equal(types.get("peerlink_connections_total"), "counter");
  assert.equal(types.get("peerlink_connections_open"), "gauge");
  assert.equal(types.get("peerlink_process_resident_memory_bytes"), "gauge");
  for (const [name, type] of types) {
    assert.match(name, /^peerlink_/);
    assert.equal(name.endsWith("_total"), type === "counter", name);
  }
  assert.ok(text.includes('peerlink_build_info{version="9.9.9",deno="'));
  // Every family has HELP and TYPE, and HELP comes first.
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    if (line.startsWith("# TYPE ")) assert.ok(lines[i - 1]!.startsWith("# HELP "), line);
  }
});

Deno.test("serverMetricFamilies() describes the core families even before anything happened", () => {
  const { types, samples } = parseExposition(
    formatPrometheus(serverMetricFamilies({ counters: {}, gauges: {} })),
  );
  for (
    const name of [
      "peerlink_connections_total",
      "peerlink_connections_open",
      "peerlink_connections_refused_total",
      "peerlink_rooms",
      "peerlink_room_events_total",
      "peerlink_exchanges_total",
      "peerlink_errors_total",
      "peerlink_rate_limited_total",
      "peerlink_punch_attempts_total",
      "peerlink_punch_outcomes_total",
    ]
  ) assert.ok(types.has(name), name);
  assert.deepEqual([...samples.keys()].filter((k) => !k.startsWith("peerlink_build_info")), []);
});

Deno.test("pathStatsFamilies() exports the library's PathStats", () => {
  const stats = new PathStats();
  stats.record("direct-tcp", "attempted");
  stats.record("direct-tcp", "won");
  stats.record("relay", "attempted");
  stats.record("relay", "lost");
  const { samples, types } = parseExposition(formatPrometheus(pathStatsFamilies(stats)));
  assert.deepEqual([...types], [["peerlink_path_events_total", "counter"]]);
  assert.equal(samples.get('peerlink_path_events_total{path="direct-tcp",outcome="won"}'), 1);
  assert.equal(samples.get('peerlink_path_events_total{path="relay",outcome="lost"}'), 1);
  assert.equal(samples.size, 4);
});

Deno.test("sampleProcess() reads memory, open descriptors and uptime", async () => {
  const before = await sampleProcess();
  assert.ok(before.rssBytes > 1_000_000);
  assert.ok(before.heapUsedBytes > 0 && before.heapTotalBytes >= before.heapUsedBytes);
  if (Deno.build.os === "linux") {
    assert.ok(before.openFds !== null && before.openFds > 2);
    // The test runner shares this process with every other test file, whose sockets may still
    // be closing; so compare with a direct count taken at the same moment, and check that five
    // more open files show.
    const direct = (): number => [...Deno.readDirSync("/proc/self/fd")].length;
    const low = direct();
    const sampled = (await sampleProcess()).openFds!;
    const high = direct();
    assert.ok(
      sampled >= Math.min(low, high) - 2 && sampled <= Math.max(low, high) + 2,
      `sampleProcess() counted ${sampled} descriptors, /proc/self/fd shows ${low}..${high}`,
    );
    const files = await Promise.all(
      Array.from({ length: 5 }, () => Deno.open(new URL(import.meta.url).pathname)),
    );
    try {
      const during = (await sampleProcess()).openFds!;
      assert.ok(during >= sampled + 4, `5 more open files show (${sampled} then ${during})`);
    } finally {
      for (const file of files) file.close();
    }
  }
  assert.ok(before.uptimeSeconds >= 0 && before.startTimeSeconds * 1000 <= Date.now());
});

Deno.test("ReadinessChecks: all must pass; failures, throws and timeouts are reported", async () => {
  const checks = new ReadinessChecks();
  assert.deepEqual(await checks.run(), { ready: true, checks: [] });
  let storeUp = true;
  checks.add("listeners", () => true);
  checks.add("store", () => Promise.resolve(storeUp));
  assert.throws(() => checks.add("store", () => true), RangeError);
  assert.equal((await checks.run()).ready, true);
  storeUp = false;
  let report = await checks.run();
  assert.equal(report.ready, false);
  assert.deepEqual(
    report.checks.map((c) => [c.name, c.ok, c.detail]),
    [["listeners", true, undefined], ["store", false, "not ready"]],
  );
  storeUp = true;
  const removeBroken = checks.add("broken", () => {
    throw new Error("Connection refused");
  });
  let aborted = false;
  const removeSlow = checks.add("slow", (signal) =>
    new Promise<boolean>((resolve) => {
      signal.addEventListener("abort", () => {
        aborted = true;
        resolve(true);
      });
    }));
  report = await checks.run({ timeoutMs: 20 });
  assert.equal(report.ready, false);
  assert.equal(report.checks.find((c) => c.name === "broken")?.detail, "Error: Connection refused");
  assert.equal(report.checks.find((c) => c.name === "slow")?.detail, "timed out after 20 ms");
  assert.ok(aborted, "The slow check's signal was not aborted");
  removeBroken();
  removeSlow();
  assert.deepEqual(checks.names, ["listeners", "store"]);
  assert.equal((await checks.run()).ready, true);
  await assert.rejects(() => checks.run({ timeoutMs: 0 }), RangeError);
});

Deno.test("Gauges: readers add up, a throwing reader counts 0, removal is per registration", () => {
  const gauges = new Gauges();
  const read = () => 2;
  const a = gauges.add("connections_open", "relay", read);
  gauges.add("connections_open", "relay", read);
  gauges.add("broken", undefined, () => {
    throw new Error("boom");
  });
  gauges.add("nan", undefined, () => NaN);
  assert.deepEqual(gauges.snapshot(), { "connections_open{relay}": 4, broken: 0, nan: 0 });
  a();
  a();
  assert.equal(gauges.get("connections_open", "relay"), 2);
});
