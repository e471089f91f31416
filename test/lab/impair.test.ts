// Lab impairments measured, not trusted: the delay line's round trip and nft loss.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Lab, PORTS, PUBLIC_HOSTS, PYTHON, withLabLogs } from "./lab.ts";
import { labSkipReason } from "./require-lab.ts";

const skip = labSkipReason();
const DELAY = 40;

interface Rtt {
  sent: number;
  received: number;
  min: number | null;
  median: number | null;
}

describe("NAT lab impairments", { skip: skip ?? false }, () => {
  let lab: Lab;
  const withLogs = withLabLogs(() => lab);
  before(async () => {
    // open sites: b1 is reachable directly, so a1 → b1 crosses two delayed wan links.
    lab = await Lab.up({ a: "open", b: "open", delayMs: DELAY });
    process.stdout.write(`# lab build with delay lines: ${lab.buildMs} ms\n`);
    await lab.startReflector();
  });
  after(() => lab?.down());

  test(`delay line: ${DELAY} ms one way per wan link`, withLogs(async () => {
    const srv = `${PUBLIC_HOSTS.srv.ips[0]}:${PORTS.reflector}`;
    // Warm-up: the first packets also wait for ARP across the delayed links; measure steady state.
    await lab.probe<Rtt>("a1", ["rtt", "--to", srv, "--count", "2", "--interval", "200"]);
    const one = await lab.probe<Rtt>("a1", ["rtt", "--to", srv, "--count", "10", "--interval", "20"]);
    assert.equal(one.received, 10, JSON.stringify(one));
    // One wan link crossed each way.
    assert.ok((one.min as number) >= 2 * DELAY, `rtt ${one.min} ≥ ${2 * DELAY}`);
    assert.ok((one.median as number) < 3 * DELAY, `rtt ${one.median} < ${3 * DELAY}`);

    const echo = lab.spawn("b1", PYTHON, ["-c", "import socket;s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',4200));print('up',flush=True)\nwhile True:\n d,a=s.recvfrom(2048);s.sendto(d,a)"]);
    await echo.waitForLine(/up/);
    await lab.probe<Rtt>("a1", ["rtt", "--to", `${lab.ip("b1")}:4200`, "--count", "2", "--interval", "400"]);
    const two = await lab.probe<Rtt>("a1", ["rtt", "--to", `${lab.ip("b1")}:4200`, "--count", "10", "--interval", "20"]);
    assert.equal(two.received, 10, JSON.stringify(two));
    assert.ok((two.min as number) >= 4 * DELAY, `rtt ${two.min} ≥ ${4 * DELAY}`);
    assert.ok((two.median as number) < 6 * DELAY, `rtt ${two.median} < ${6 * DELAY}`);
    await echo.kill();

    // Live change: without the delay line the same path is fast again.
    await lab.setImpair("a", { delayMs: 0 });
    const none = await lab.probe<Rtt>("a1", ["rtt", "--to", srv, "--count", "10", "--interval", "5"]);
    assert.ok((none.median as number) < DELAY, `rtt without delay ${none.median}`);
  }));

  test("loss: 20 % each way on site a's wan link", withLogs(async () => {
    await lab.setImpair("a", { delayMs: 0, lossPct: 20 });
    const n = 500;
    const r = await lab.probe<Rtt>("a1", ["rtt", "--to", `${PUBLIC_HOSTS.srv.ips[0]}:${PORTS.reflector}`, "--count", String(n), "--interval", "2", "--drain", "300"], 30_000);
    // A round trip survives with (1 - 0.2)^2 = 0.64; 500 samples put 4.5 sigma inside ±0.1.
    const ok = r.received / n;
    assert.ok(ok > 0.54 && ok < 0.74, `delivered fraction ${ok}`);
    await lab.setImpair("a", { lossPct: 0 });
    const clean = await lab.probe<Rtt>("a1", ["rtt", "--to", `${PUBLIC_HOSTS.srv.ips[0]}:${PORTS.reflector}`, "--count", "100", "--interval", "2", "--drain", "300"]);
    assert.equal(clean.received, 100, "no loss once removed");
  }));
});
