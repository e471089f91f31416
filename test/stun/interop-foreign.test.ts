/**
 * Our embedded STUN server against two foreign clients, as child processes,
 * on loopback only (127.0.0.1 primary, 127.0.0.2 alternate):
 *  - coturn's turnutils_stunclient, whose RFC 5780 run sends a Binding, then
 *    RESPONSE-PORT + CHANGE-REQUEST (36 bytes, listening only on the response
 *    port), then CHANGE-REQUEST + PADDING from that port;
 *  - the classic RFC 3489 client `stun` (Debian stun-client), which sends no
 *    magic cookie and needs MAPPED-ADDRESS and CHANGED-ADDRESS.
 * A missing binary skips the test, except with CI set (test/lab/install.sh
 * installs both there), where it fails saying which package is missing.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { after, before, describe, it, type TestContext } from "node:test";
import { StunServer } from "../../src/stun/server.ts";

function have(bin: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${bin}`]).status === 0;
}

/** Skips (or, in CI, fails) the test when `bin` is not installed. True when it may run. */
function need(t: TestContext, bin: string, pkg: string): boolean {
  if (have(bin)) return true;
  const why = `${bin} is not installed (Debian package ${pkg}; run test/lab/install.sh)`;
  if (process.env.CI) assert.fail(`CI: ${why}`);
  t.skip(why);
  return false;
}

interface Run {
  out: string;
  code: number | null;
  timedOut: boolean;
}

/** Runs a client, killing it (by its own pid) after `ms`: turnutils_stunclient blocks forever on an answer that never comes. */
function run(bin: string, args: string[], ms: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, ms);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ out, code, timedOut });
    });
  });
}

describe("foreign STUN clients against the embedded server (RFC 5780 on 127.0.0.1 + 127.0.0.2)", { timeout: 60_000 }, () => {
  let server: StunServer;
  let P1: number;
  let P2: number;
  before(async () => {
    server = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0, tcp: false });
    P1 = server.addresses.primary.port;
    P2 = server.addresses.other!.port;
  });
  after(async () => {
    await server.close();
  });

  it("coturn turnutils_stunclient: all three RFC 5780 requests answered, RESPONSE-PORT included, no error", async (t) => {
    if (!need(t, "turnutils_stunclient", "coturn")) return;
    const before = server.stats.udpRequests;
    const r = await run("turnutils_stunclient", ["-L", "127.0.0.1", "-p", String(P1), "127.0.0.1"], 8000);
    assert.equal(r.timedOut, false, `turnutils_stunclient hung waiting for an answer on its RESPONSE-PORT:\n${r.out}`);
    assert.equal(r.code, 0, r.out);
    assert.doesNotMatch(r.out, /error|\b420\b|not a STUN message|Cannot read/i, r.out);
    // One reflexive address per answer (the second client socket is the response port, local port + 1).
    const mapped = new Set([...r.out.matchAll(/UDP reflexive addr: ?(\S+)/g)].map((m) => m[1]));
    assert.equal(mapped.size, 2, `two client sockets, each mapped to itself:\n${r.out}`);
    for (const m of mapped) assert.match(m, /^127\.0\.0\.1:\d+$/);
    // The third request (CHANGE-REQUEST ip+port, padded) is answered in full from the alternate address.
    assert.match(r.out, /Response origin: : 127\.0\.0\.2:(\d+)/);
    assert.match(r.out, new RegExp(`Other addr: : 127\\.0\\.0\\.2:${P2}`));
    assert.equal(server.stats.udpRequests - before, 3, "three requests");
  });

  it("RFC 3489 `stun` client: answered without the magic cookie, reports Open (no NAT on loopback), not Blocked", async (t) => {
    if (!need(t, "stun", "stun-client")) return;
    const before = server.stats.udpRequests;
    const r = await run("stun", [`127.0.0.1:${P1}`, "-v", "-i", "127.0.0.1"], 20_000);
    assert.equal(r.timedOut, false, r.out);
    assert.match(r.out, /Primary: Open/, r.out);
    assert.doesNotMatch(r.out, /Blocked|error detetecting/, r.out);
    // It learnt the alternate address from CHANGED-ADDRESS, and ran every test.
    assert.match(r.out, new RegExp(`ChangedAddress = 127\\.0\\.0\\.2:${P2}`));
    for (const test of ["test I", "test II", "test III", "test I\\(2\\)"]) assert.match(r.out, new RegExp(`${test} = 1`), r.out);
    // Exit status: 0x00 Open, | 0x01 port preserved, | 0x10 no hairpin.
    assert.equal((r.code ?? 0xff) & 0x0e, 0, `exit ${r.code}`);
    assert.ok(server.stats.udpRequests - before >= 4, "tests I, II, III and I(2) reached us");
  });

  it("turnutils_stunclient -f against a server without an alternate address: the 420 (CHANGE-REQUEST cannot be honoured, RFC 5780 §6.1) reaches its RESPONSE-PORT instead of leaving it hanging", async (t) => {
    if (!need(t, "turnutils_stunclient", "coturn")) return;
    const plain = await StunServer.listen({ host: "127.0.0.1", port: 0, tcp: false });
    try {
      const r = await run("turnutils_stunclient", ["-f", "-L", "127.0.0.1", "-p", String(plain.addresses.primary.port), "127.0.0.1"], 8000);
      assert.equal(r.timedOut, false, `hung waiting on its RESPONSE-PORT:\n${r.out}`);
      assert.equal(r.code, 0, r.out);
      assert.equal([...r.out.matchAll(/The response is an error 420/g)].length, 2, r.out);
    } finally {
      await plain.close();
    }
  });
});
