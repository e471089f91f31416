/** The connect command's progress lines, one per event kind it shows. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { progressEvent } from "../../src/connect/progress.ts";
import { progressLine } from "../../src/cli/progress.ts";

test("dial, strategy and strategy-failed get a line; the rest only go to --json", () => {
  assert.equal(progressLine(progressEvent("dial", { host: "::1", port: 4000, kind: "loopback", ms: 3 })), "  trying [::1]:4000 (loopback)");
  assert.equal(progressLine(progressEvent("strategy", { strategy: "reverse", reason: "the peer may be able to dial us", ms: 0 })), "  trying reverse (the peer may be able to dial us)");
  assert.equal(progressLine(progressEvent("strategy-failed", { strategy: "direct", error: "ECONNREFUSED", ms: 9 })), "  direct failed: ECONNREFUSED");
  assert.equal(progressLine(progressEvent("connected", { strategy: "direct", ms: 9 })), undefined);
  assert.equal(progressLine(progressEvent("dial-failed", { host: "10.0.0.1", port: 1, error: "x", ms: 1 })), undefined);
});
