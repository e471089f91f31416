// examples/file-transfer.ts runs as written: a progress bar, the cut, the resume, the checksum.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startExample } from "./example-support.ts";

test("the file-transfer example resumes after the cut and verifies the SHA-256", async () => {
  const ex = startExample("file-transfer.ts");
  assert.deepEqual(await ex.exitWithin(120_000), { code: 0, signal: null }, ex.log());
  const out = ex.stdout.join("\n");
  assert.match(out, /\[#+\.*\] .* MiB \/ 24\.0 MiB .*MiB\/s\s+ETA/, "a progress bar with bytes, rate and ETA");
  assert.match(out, /bob: PipeClosedError: the connection was cut/);
  assert.match(out, /alice: transfer interrupted \(PipeClosedError\); the partial file is kept/);
  const m = /bob: resumed from ([\d.]+) MiB; sent ([\d.]+) MiB of 24\.0 MiB this time/.exec(out);
  assert.ok(m, ex.log());
  assert.ok(Number(m[1]) > 0 && Math.abs(Number(m[1]) + Number(m[2]) - 24) < 0.01, "only the missing bytes were sent");
  assert.match(out, /alice: saved holiday\.mp4/);
  assert.match(out, /checksum: SHA-256 matches/);
  assert.match(out, /All closed/);
});
