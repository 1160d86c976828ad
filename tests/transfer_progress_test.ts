import assert from "node:assert/strict";
import { ProgressTracker } from "../transfer/mod.ts";

Deno.test("ProgressTracker measures rate and ETA over moved bytes, per file and overall", () => {
  let now = 0;
  const tracker = new ProgressTracker(3000, { now: () => now, intervalMs: 100, windowMs: 2000 });
  tracker.startFile(1000, 0);
  for (let t = 1; t <= 10; t++) {
    now = t * 100;
    tracker.advance(100); // 1000 bytes per second
  }
  assert.equal(tracker.file().bytes, 1000);
  assert.equal(tracker.file().etaSeconds, 0);
  assert.equal(Math.round(tracker.rate()), 1000);
  assert.equal(Math.round(tracker.overall().etaSeconds!), 2);
  // The second file resumes at 1500: those bytes count as done but not towards the rate.
  tracker.startFile(2000, 1500);
  assert.equal(tracker.overall().bytes, 2500);
  assert.equal(tracker.file().bytes, 1500);
  now += 500;
  tracker.advance(250);
  assert.equal(tracker.file().bytes, 1750);
  assert.ok(tracker.rate() < 1000, "idle time lowers the rate");
});

Deno.test("ProgressTracker forgets old samples, so the rate follows speed changes", () => {
  let now = 0;
  const tracker = new ProgressTracker(1e9, { now: () => now, windowMs: 1000 });
  tracker.startFile(1e9, 0);
  for (let t = 1; t <= 40; t++) {
    now = t * 250;
    tracker.advance(t <= 20 ? 250_000 : 25_000); // 1 MB/s, then 100 kB/s
  }
  const rate = tracker.rate();
  assert.ok(rate > 90_000 && rate < 200_000, String(rate));
});

Deno.test("ProgressTracker throttles events and reports an unknown ETA before any rate", () => {
  let now = 0;
  const tracker = new ProgressTracker(100, { now: () => now, intervalMs: 100 });
  tracker.startFile(100, 0);
  assert.equal(tracker.overall().etaSeconds, null);
  let events = 0;
  for (let i = 0; i < 50; i++) {
    now += 10;
    if (tracker.advance(1)) events++;
  }
  assert.equal(events, 5);
  assert.throws(() => new ProgressTracker(-1), RangeError);
  assert.throws(() => new ProgressTracker(1, { windowMs: 0 }), RangeError);
});
