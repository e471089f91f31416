// `p2pnode doctor` on loopback, as a user runs it: our STUN server (RFC 5780 with 127.0.0.2),
// the embedded broker and the embedded TURN relay (UDP); the text and the one JSON object;
// a refused TURN credential and an unreachable broker each give a clear line and exit 1;
// allocations are released; the password is never echoed.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startBroker } from "../../src/signaling/broker.ts";
import { StunServer } from "../../src/stun/server.ts";
import { startEmbeddedRelay, type EmbeddedRelay } from "../../src/turn/embedded.ts";
import type { DoctorReport } from "../../src/cli/doctor-types.ts";
import { deadPort, run } from "./cli-support.ts";

const PASS = "doctor-test-only-password";
let broker: Awaited<ReturnType<typeof startBroker>>;
let stun: StunServer;
let relay: EmbeddedRelay;
let stunUri: string;

before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
  stun = await StunServer.listen({ host: "127.0.0.1", port: 0, altHost: "127.0.0.2", altPort: 0 });
  stunUri = `stun:127.0.0.1:${stun.addresses.primary.port}`;
  relay = await startEmbeddedRelay({ host: "127.0.0.1", port: 0, users: { alice: PASS } });
});
after(async () => {
  await relay?.close();
  await stun?.close();
  await broker?.close();
});

/** Every server given; only loopback looked through; the gateway probe aimed at loopback (nothing answers there). */
const flags = () => ["--stun", stunUri, "--signal", broker.url, "--turn", relay.url, "--turn-user", "alice", "--local", "127.0.0.1"];
const env = (pass = PASS) => ({ P2PNODE_TURN_PASS: pass });

test("all servers working: the facts, the verdicts in plain words, exit 0, the allocation released", async () => {
  const r = await run(["doctor", ...flags(), "--gateway", "127.0.0.1"], undefined, 60_000, env());
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const out = r.stdout;
  assert.match(out, /^ {2}lo: IPv4 127\.0\.0\.1; IPv6 none$/m);
  assert.match(out, /^ {4}UDP: no NAT and nothing filtered \(open\); public 127\.0\.0\.1:\d+ \(local 127\.0\.0\.1:\d+\); mapping endpoint-independent, filtering endpoint-independent/m);
  assert.match(out, /^ {4}TCP: no NAT and nothing filtered \(open\); public 127\.0\.0\.1:\d+/m);
  assert.match(out, /^Port mapping at 127\.0\.0\.1 \(probed; no mapping created\)$/m);
  assert.match(out, /^ {2}PCP: no \(/m);
  assert.match(out, /^ {2}NAT-PMP: no \(/m);
  assert.match(out, /^ {2}UPnP IGD: no \(no SSDP answer/m);
  assert.match(out, new RegExp(`^  ${broker.url.replace(/[.]/g, "\\.")}: up; round trip [\\d.]+ ms$`, "m"));
  assert.match(out, new RegExp(`^    ${relay.url.replace(/[.]/g, "\\.")}, UDP allocation: ok; relayed 127\\.0\\.0\\.1:\\d+, we are 127\\.0\\.0\\.1:\\d+, \\d+ ms, released$`, "m"));
  // The embedded relay has no TCP listener: said, but not a failure.
  assert.match(out, /^ {4}turn:127\.0\.0\.1:\d+\?transport=tcp, UDP allocation \(not configured: same host over TCP\): FAILED/m);
  assert.match(out, /^Clock: offset unknown$/m);
  assert.match(out, /^ {2}\[ok\] {3}you are reachable directly \(TCP: no NAT and nothing filtered\)/m);
  assert.match(out, /^ {2}\[ok\] {3}signaling works through 1 of 1 broker \(best round trip [\d.]+ ms\)$/m);
  assert.match(out, /^ {2}\[ok\] {3}relay ready \(turn:127\.0\.0\.1:\d+ UDP\)/m);
  assert.match(out, /^ {2}\[info\] TURN over TCP at turn:127\.0\.0\.1:\d+\?transport=tcp did not work/m);
  assert.match(out, /^ {2}\[info\] clock offset unknown: no configured server tells the time/m);
  assert.doesNotMatch(out, /\[FAIL\]/);
  // Progress on stderr, one line per check.
  assert.match(r.stderr, /^doctor: checking 1 interface, 1 STUN, 1 signaling and 1 TURN server/m);
  assert.match(r.stderr, /^doctor: broker mqtt:\/\/127\.0\.0\.1:\d+: up, round trip/m);
  assert.match(r.stderr, /^doctor: TURN turn:127\.0\.0\.1:\d+ \(user "alice"\): turn:127\.0\.0\.1:\d+ UDP ok/m);
  assert.equal(relay.allocations(), 0, "the allocation was released");
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(PASS));
});

test("--json: one JSON object with the facts, the verdicts and the exit code; IPv6 listed without a verdict (no IPv6 STUN server)", async () => {
  const r = await run(["doctor", ...flags(), "--local", "::1", "--no-portmap", "--json"], undefined, 60_000, env());
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const lines = r.stdout.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, r.stdout);
  const rep = JSON.parse(lines[0]) as DoctorReport;
  assert.equal(rep.exitCode, 0);
  assert.deepEqual(rep.config, { stun: [stunUri], signal: [broker.url], turn: [relay.url] });
  const [v4, v6] = rep.interfaces;
  assert.equal(v4.nat?.udp?.natType, "open");
  assert.equal(v4.nat?.tcp?.natType, "open");
  assert.deepEqual(v6.v6, ["::1"]);
  assert.equal(v6.nat, undefined);
  assert.equal(v6.nat6, undefined);
  assert.match(v6.nat6Error ?? "", /no IPv6 STUN server configured/);
  assert.equal(rep.portmap.method, "skipped");
  assert.equal(rep.brokers[0].ok, true);
  assert.equal(typeof rep.brokers[0].rttMs, "number");
  const udp = rep.turn[0].allocations.find((a) => a.configured)!;
  assert.deepEqual([udp.ok, udp.relay, udp.link, udp.released], [true, "udp", "udp", true]);
  assert.deepEqual(rep.clock, { offsetMs: null, source: null, reason: rep.clock.reason });
  const ids = Object.fromEntries(rep.verdicts.map((v) => [v.id, v.level]));
  assert.deepEqual([ids.reachable, ids.signaling, ids.relay, ids.ipv6, ids.portmap, ids.clock], ["ok", "ok", "ok", "info", "info", "info"]);
  assert.match(rep.verdicts.find((v) => v.id === "ipv6")!.text, /no IPv6 verdict \(no IPv6 STUN server configured/);
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(PASS));
});

test("a refused TURN credential and an unreachable broker: a clear line each, exit 1, the password never echoed", async () => {
  const dead = `mqtt://127.0.0.1:${await deadPort()}`;
  const wrong = "not-the-password";
  const args = ["doctor", "--stun", stunUri, "--signal", dead, "--turn", relay.url, "--turn-user", "alice", "--local", "127.0.0.1", "--no-portmap", "--timeout", "2000"];
  const r = await run(args, undefined, 60_000, env(wrong));
  assert.equal(r.code, 1, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`^  \\[FAIL\\] TURN ${relay.url.replace(/[.]/g, "\\.")} \\(UDP allocation\\): the relay refused the credentials of user "alice"; check --turn-user and the password \\(P2PNODE_TURN_PASS or --turn-pass-file\\)$`, "m"));
  assert.match(r.stdout, new RegExp(`^  \\[FAIL\\] signaling broker ${dead.replace(/[.]/g, "\\.")} unreachable: .*ECONNREFUSED.*; is it running, and is the port open\\?$`, "m"));
  assert.match(r.stdout, /^ {2}\[FAIL\] no signaling broker reachable: only direct connections work/m);
  assert.match(r.stdout, /^ {2}\[FAIL\] no configured TURN allocation worked/m);
  assert.doesNotMatch(r.stdout + r.stderr, new RegExp(wrong));
  assert.equal(relay.allocations(), 0);

  const j = await run([...args, "--json"], undefined, 60_000, env(wrong));
  assert.equal(j.code, 1, j.stderr);
  const rep = JSON.parse(j.stdout) as DoctorReport;
  assert.equal(rep.exitCode, 1);
  assert.equal(rep.brokers[0].ok, false);
  assert.equal(rep.turn[0].allocations.find((a) => a.configured)?.reason, "wrong-credentials");
  assert.deepEqual(rep.verdicts.filter((v) => v.level === "fail").map((v) => v.id).sort(), ["broker-down", "relay", "signaling", "turn-failed"]);
});

test("nothing configured: interfaces and plain warnings, exit 0; --turn without --turn-user is a usage error (2)", async () => {
  const r = await run(["doctor", "--local", "127.0.0.1", "--no-portmap"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\[warn\] no STUN server configured \(--stun\)/);
  assert.match(r.stdout, /\[warn\] no signaling broker configured \(--signal\): only direct connections work/);
  assert.match(r.stdout, /\[info\] no TURN server configured \(--turn\): two symmetric NATs with random ports cannot connect/);
  const u = await run(["doctor", "--turn", relay.url, "--local", "127.0.0.1", "--no-portmap"]);
  assert.equal(u.code, 2, u.stderr);
  assert.match(u.stderr, /--turn needs --turn-user NAME/);
});

test("--help: an example and the exit codes", async () => {
  const r = await run(["doctor", "--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /\$ p2pnode doctor --stun stun:HOST:3478 --signal mqtt:\/\/HOST:1883 --turn turn:HOST:3478 --turn-user alice/);
  assert.match(r.stdout, /1 {2}doctor: a configured server failed/);
});
