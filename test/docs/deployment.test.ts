/**
 * docs/deployment.md's mosquitto configuration and ACL, as written (the TLS
 * listener swapped for a plain one on loopback), run in a real mosquitto:
 * `p2pnode doctor` gets its round trip through the ACL, and a wildcard
 * subscriber still sees the messages, as the page warns.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import mqtt from "mqtt";
import { root, run } from "../cli/cli-support.ts";

const page = readFileSync(join(root, "docs/deployment.md"), "utf8");
const hasMosquitto = spawnSync("mosquitto", ["-h"], { stdio: "ignore" }).error === undefined;

/** The fenced block right after the line naming `file`. */
function blockAfter(file: string): string {
  const at = page.indexOf("`" + file + "`");
  assert.ok(at >= 0, `docs/deployment.md shows ${file}`);
  const m = /```\n([\s\S]*?)```/.exec(page.slice(at));
  assert.ok(m, `a code block follows ${file}`);
  return m[1];
}

const dir = mkdtempSync(join(tmpdir(), "p2pnode-deploy-"));
chmodSync(dir, 0o755); // mosquitto started as root reads its files as the mosquitto user
let broker: ChildProcess | undefined;
after(() => {
  broker?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

test("the page's mosquitto config and ACL: doctor works through them, and a wildcard subscriber still sees the messages", { skip: !hasMosquitto && "mosquitto is not installed (test/lab/install.sh)", timeout: 60_000 }, async () => {
  const port = await freePort();
  const acl = blockAfter("/etc/mosquitto/p2pnode.acl");
  assert.match(acl, /^topic readwrite p2pnode\/1\/\+$/m);
  const conf = blockAfter("/etc/mosquitto/conf.d/p2pnode.conf")
    .split("\n")
    .filter((l) => !/^(listener|certfile|keyfile)\b/.test(l)) // TLS needs a certificate: a plain listener on loopback instead
    .map((l) => l.replace(/^acl_file .*/, `acl_file ${join(dir, "p2pnode.acl")}`));
  assert.ok(conf.some((l) => l.startsWith("acl_file ")), "the config names the ACL");
  writeFileSync(join(dir, "p2pnode.acl"), acl);
  writeFileSync(join(dir, "mosquitto.conf"), [`listener ${port} 127.0.0.1`, ...conf, "log_dest stderr", ""].join("\n"));
  broker = spawn("mosquitto", ["-c", join(dir, "mosquitto.conf")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  broker.stderr!.on("data", (d) => (log += d));
  for (let i = 0; i < 100 && !/running|Error/.test(log); i++) await new Promise((r) => setTimeout(r, 100));
  assert.match(log, /running/, `mosquitto started with the page's config:\n${log}`);

  // A spy with a wildcard subscription: the ACL lets it in (the page says so).
  const spy = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4, reconnectPeriod: 0 });
  const seen: string[] = [];
  spy.on("message", (topic) => seen.push(topic));
  const granted = await new Promise<{ qos: number }[]>((resolve, reject) => {
    spy.once("error", reject);
    spy.on("connect", () => spy.subscribe("#", { qos: 0 }, (err, g) => (err ? reject(err) : resolve(g as { qos: number }[]))));
  });
  try {
    assert.equal(granted[0].qos, 0, "the # subscription is granted");
    const r = await run(["doctor", "--signal", `mqtt://127.0.0.1:${port}`, "--no-portmap", "--local", "127.0.0.1", "--timeout", "5000", "--json"], undefined, 45_000);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(report.brokers?.[0]?.ok, true, `doctor found the broker working through the ACL:\n${r.stdout}\n${r.stderr}`);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seen.some((t) => t.startsWith("p2pnode/1/")), `the wildcard subscriber saw doctor's message: ${seen.join(", ")}\n${log}`);
  } finally {
    spy.end(true);
  }
});
