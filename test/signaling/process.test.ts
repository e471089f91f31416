// Whole-process behaviour: nothing leaks (the process exits by itself) and `p2pnode signal` runs and stops cleanly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import mqtt from "mqtt";

const ROOT = new URL("../../", import.meta.url).pathname;
const run = (file: string, args: string[] = []) =>
  spawn(process.execPath, ["--import", "tsx", "--import", "./test/support/guard.ts", file, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });

async function exitOf(child: ReturnType<typeof run>, ms: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), ms);
  const [code] = await once(child, "exit");
  clearTimeout(timer);
  return { code, stdout, stderr };
}

test("process: after close() of nodes and brokers the process exits on its own", async () => {
  const r = await exitOf(run("test/signaling/fixtures/exit-child.ts"), 30_000);
  assert.equal(r.code, 0, `exit code ${r.code} (null = killed: handles leaked)\n${r.stderr}`);
  assert.deepEqual(JSON.parse(r.stdout), { reply: "world", reply2: "again" });
});

test("process: p2pnode signal prints a ready line, serves MQTT, and exits cleanly on SIGTERM", async () => {
  const child = run("test/signaling/fixtures/signal-cli.ts", ["signal", "--port", "0", "--json"]);
  const done = exitOf(child, 30_000);
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  const ready = JSON.parse(line.toString().split("\n")[0]);
  assert.equal(ready.event, "ready");
  assert.match(ready.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
  const c = await mqtt.connectAsync(ready.url, { reconnectPeriod: 0 });
  // Wildcard subscriptions are refused: nobody can listen to every node's topic.
  await assert.rejects(c.subscribeAsync("p2pnode/#"), /Subscribe error/);
  await c.subscribeAsync("p2pnode/1/0123"); // an exact topic is fine, on the same connection
  c.on("error", () => {});
  child.kill("SIGTERM");
  const r = await done;
  await c.endAsync(true);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"event":"closed","signal":"SIGTERM"/);
});
