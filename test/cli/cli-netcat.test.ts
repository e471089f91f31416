// Issue 13, CLI items 1 and 2: netcat mode ends when the peer goes; data is never lost or altered.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { exitWithin, listen, run, start } from "./cli-support.ts";

const H = ["--host", "127.0.0.1"];
const dir = mkdtempSync(join(tmpdir(), "p2pnode-cli-"));

test("item 1: netcat mode exits with a clear line and code 3 when the peer leaves (stdin still open)", async () => {
  const l = await listen(["--echo"]);
  const nc = start(["connect", String(l.ready.addr), ...H]);
  nc.c.stdin!.write("hello\n"); // stdin stays open, as on a terminal
  await nc.waitOut(/^hello$/);
  l.c.kill("SIGTERM");
  const code = await exitWithin(nc.exited, 30_000, "connect after the peer left");
  assert.equal(code, 3, nc.stderr.join("\n"));
  assert.ok(nc.stderr.some((x) => /error: the peer closed the connection/.test(x)), nc.stderr.join("\n"));
});

test("item 1: a peer killed without a word: netcat says at once that the connection is lost and that it is reconnecting (resumable pipes wait 30 s)", async () => {
  const l = await listen(["--echo"]);
  const nc = start(["connect", String(l.ready.addr), ...H]);
  try {
    nc.c.stdin!.write("hello\n");
    await nc.waitOut(/^hello$/);
    l.c.kill("SIGKILL");
    await nc.waitErr(/^warning: connection to the peer lost \(.+\); reconnecting…$/);
    assert.equal(nc.c.exitCode, null, "still waiting for the path to come back");
  } finally {
    nc.c.kill("SIGTERM");
    await nc.exited;
  }
});

test("item 2: --binary carries 64 KiB of random bytes unaltered (echo), exit 0", async () => {
  const l = await listen(["--echo"]);
  const data = randomBytes(64 * 1024);
  const r = await run(["connect", String(l.ready.addr), "--binary", ...H], data);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdoutBytes.length, data.length);
  assert.ok(r.stdoutBytes.equals(data), "the echoed bytes are the bytes sent");
  l.c.kill("SIGTERM");
});

test("item 2: text mode refuses invalid UTF-8 on stdin with a clear error instead of rewriting it", async () => {
  const l = await listen(["--echo"]);
  const r = await run(["connect", String(l.ready.addr), ...H], Buffer.concat([Buffer.from("fine\n"), randomBytes(64).fill(0xff, 0, 1), Buffer.from("\n")]));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /stdin line 2 is not valid UTF-8.*--binary/);
  assert.ok(!r.stdout.includes("\ufffd"), "nothing was replaced");
  assert.equal(r.stdout, "fine\n");
  l.c.kill("SIGTERM");
  await l.exited;
  assert.ok(!l.events.some((e) => e.event === "message" && String(e.data).includes("\ufffd")), "the listener got no rewritten text");
});

test("item 2: --send-file carries more than the kernel's argument limit; --send-file - reads stdin as one message", async () => {
  const l = await listen(["--echo"]);
  const text = randomBytes(150 * 1024).toString("base64"); // 200 KiB: over MAX_ARG_STRLEN (128 KiB)
  const file = join(dir, "big.txt");
  writeFileSync(file, text);
  const r = await run(["connect", String(l.ready.addr), "--send-file", file, ...H]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, text + "\n");
  const bytes = randomBytes(100_000);
  const b = await run(["connect", String(l.ready.addr), "--send-file", "-", "--binary", ...H], bytes);
  assert.equal(b.code, 0, b.stderr);
  assert.ok(b.stdoutBytes.equals(bytes), "binary reply written unaltered");
  const bad = await run(["connect", String(l.ready.addr), "--send-file", "-", ...H], bytes);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /stdin is not valid UTF-8 text: add --binary/);
  l.c.kill("SIGTERM");
});

test("item 2: listen cuts a multi-megabyte message on the terminal; --out keeps the full data", async () => {
  const out = join(dir, "received.bin");
  const l = start(["listen", ...H, "--echo", "--out", out]);
  const addr = await l.waitOut(/^p2pn1/);
  const text = "x".repeat(2 * 1024 * 1024);
  const file = join(dir, "2mb.txt");
  writeFileSync(file, text);
  const r = await run(["connect", addr, "--send-file", file, "--json", ...H]);
  assert.equal(r.code, 0, r.stderr);
  const line = await l.waitErr(/^message from /);
  assert.ok(line.length < 1000, `terminal line is ${line.length} characters`);
  assert.match(line, /2097152 bytes in all, shown cut; full data with --json or --out FILE/);
  l.c.kill("SIGTERM");
  assert.equal(await l.exited, 0);
  assert.equal(readFileSync(out, "utf8"), text);
});
