import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;

test("the demo runs on loopback and shows direct, reverse and relayed connects", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", "examples/demo.ts"], {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, P2PNODE_NET_GUARD: "loopback" },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /connected to bob by "direct"/);
  assert.match(r.stdout, /bob dialled back: "reverse"/);
  assert.match(r.stdout, /bob is "open" over TCP/);
  assert.match(r.stdout, /bob reached her relayed address: "turn"/);
  assert.match(r.stdout, /All closed/);
});
