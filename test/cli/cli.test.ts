import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { after, test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;
const bin = `${root}bin/p2pnode.js`;
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
});

function run(args: string[], input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ["pipe", "pipe", "pipe"] });
    children.add(c);
    let stdout = "";
    let stderr = "";
    c.stdout.on("data", (d) => (stdout += d));
    c.stderr.on("data", (d) => (stderr += d));
    if (input !== undefined) c.stdin.end(input);
    else c.stdin.end();
    c.on("exit", (code) => {
      children.delete(c);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `p2pnode listen --json` and returns its ready event and the process. */
async function listen(extra: string[] = []) {
  const c = spawn(process.execPath, [bin, "listen", "--host", "127.0.0.1", "--json", ...extra], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  children.add(c);
  const lines = createInterface({ input: c.stdout });
  const events: Array<Record<string, unknown>> = [];
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on("line", (l) => {
      const e = JSON.parse(l);
      events.push(e);
      if (e.event === "ready") resolve(e);
    });
    c.once("exit", () => reject(new Error("listen exited early")));
  });
  return { c, ready, events };
}

test("--help works for the program and every command", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  for (const cmd of ["listen", "connect", "nat", "stun", "signal"]) {
    assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
    const r = await run([cmd, "--help"]);
    assert.equal(r.code, 0, `${cmd} --help`);
    assert.match(r.stdout, /Usage: p2pnode/);
  }
});

test("listen --echo --json and connect --send --json: stable events, exit 0", async () => {
  const l = await listen(["--echo"]);
  assert.equal(typeof l.ready.addr, "string");
  assert.match(String(l.ready.addr), /^p2pn1/);
  const r = await run(["connect", String(l.ready.addr), "--send", "hi", "--json", "--host", "127.0.0.1"]);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split("\n").map((x) => JSON.parse(x));
  const connected = events.find((e) => e.event === "connected");
  assert.equal(connected.strategy, "direct");
  assert.equal(typeof connected.ms, "number");
  assert.deepEqual(events.find((e) => e.event === "message"), { event: "message", data: "hi" });
  l.c.kill("SIGTERM");
  await new Promise((r) => l.c.once("exit", r));
  assert.ok(l.events.some((e) => e.event === "message" && e.data === "hi"), "listener reported the message");
  assert.equal(l.events.at(-1)?.event, "closed");
});

test("connect without --send pipes stdin to the peer and replies to stdout", async () => {
  const l = await listen(["--echo"]);
  const r = await run(["connect", String(l.ready.addr), "--host", "127.0.0.1"], "one\ntwo\n");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "one\ntwo\n");
  assert.match(r.stderr, /connected to .* by direct/);
  l.c.kill("SIGTERM");
});

test("bad input: readable error, non-zero exit, JSON error event", async () => {
  const plain = await run(["connect", "p2pn1notanaddress", "--send", "x", "--host", "127.0.0.1"]);
  assert.notEqual(plain.code, 0);
  assert.match(plain.stderr, /error: .*address/);
  const json = await run(["connect", "hello", "--send", "x", "--json", "--host", "127.0.0.1"]);
  assert.notEqual(json.code, 0);
  const err = JSON.parse(json.stdout.trim().split("\n").at(-1)!);
  assert.equal(err.event, "error");
  assert.equal(err.code, "P2P_ERR_ADDRESS");
  assert.match(err.message, /not a p2pnode address/);
});
