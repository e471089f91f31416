// Issue 13, CLI items 4 and 5: signaling failures are said on the terminal; --timeout bounds the
// command; an unknown node id gets an answer a user can act on. Real brokers on loopback.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Identity } from "../../src/identity/identity.ts";
import { startBroker } from "../../src/signaling/broker.ts";
import { deadPort, exitWithin, listen, run, start } from "./cli-support.ts";

const H = ["--host", "127.0.0.1"];
const stranger = () => Identity.generate().id; // a valid id that no node uses

test("item 4: listen with an unreachable broker warns on the terminal before it prints its address", async () => {
  const url = `mqtt://127.0.0.1:${await deadPort()}`;
  const l = start(["listen", ...H, "--signal", url]);
  const warning = await l.waitErr(/^warning: signaling broker mqtt:\/\/127\.0\.0\.1:\d+ is unreachable \(connection refused/);
  await l.waitOut(/^p2pn1/);
  assert.ok(l.stderr.indexOf(warning) < l.stderr.findIndex((x) => /share this address/.test(x)), l.stderr.join("\n"));
  l.c.kill("SIGTERM");
  assert.equal(await l.exited, 0);
});

test("item 4: a broker that dies later is reported lost, and reported again when it comes back", async () => {
  let broker = await startBroker({ host: "127.0.0.1", port: 0 });
  const port = broker.port;
  const l = start(["listen", ...H, "--signal", broker.url]);
  try {
    await l.waitOut(/^p2pn1/);
    assert.ok(!l.stderr.some((x) => /warning/.test(x)), l.stderr.join("\n"));
    await broker.close();
    await l.waitErr(/^warning: lost signaling broker mqtt:\/\/127\.0\.0\.1:\d+ .*reconnecting/);
    broker = await startBroker({ host: "127.0.0.1", port });
    await l.waitErr(/^warning: signaling broker mqtt:\/\/127\.0\.0\.1:\d+ is reachable again/);
  } finally {
    l.c.kill("SIGTERM");
    await l.exited;
    await broker.close();
  }
});

test("item 4: connect by id with a dead broker: --timeout bounds the whole command, the error names the broker", async () => {
  const url = `mqtt://127.0.0.1:${await deadPort()}`;
  const t0 = performance.now();
  const r = await run(["connect", stranger(), "--signal", url, "--send", "x", "--timeout", "1500", "--json", ...H]);
  const took = performance.now() - t0;
  assert.equal(r.code, 1, r.stderr);
  // Not a timing of ours: without the bound the command runs ~20 s (the address fetch's own
  // timeout) and prints the same message, so only the elapsed time can tell them apart.
  assert.ok(took < 12_000, `--timeout 1500 bounds the command (took ${Math.round(took)} ms)`);
  const err = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(err.event, "error");
  assert.equal(err.code, "P2P_ERR_TIMEOUT");
  assert.match(err.message, /could not reach the signaling broker mqtt:\/\/127\.0\.0\.1:\d+ \(connection refused: nothing listens there\) within 1500 ms \(--timeout\)/);
  assert.match(r.stderr, /^warning: signaling broker .* is unreachable/m, "warned while it happened");
});

test("item 5: an id no node answers for: says what happened and what to check, with progress, no 'no reply' prefix", async () => {
  const broker = await startBroker({ host: "127.0.0.1", port: 0 });
  try {
    const r = await run(["connect", stranger(), "--signal", broker.url, "--send", "x", "--timeout", "2500", ...H]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.split("\n");
    const asking = lines.findIndex((x) => /^asking mqtt:\/\/127\.0\.0\.1:\d+ for the address of [a-z2-7]{12}…/.test(x));
    const error = lines.findIndex((x) => /^error: no node with that id answered on mqtt:\/\/127\.0\.0\.1:\d+ within 2500 ms: is it online and using the same broker/.test(x));
    assert.ok(asking >= 0 && error > asking, r.stderr);
    assert.doesNotMatch(r.stderr, /no reply within/);
  } finally {
    await broker.close();
  }
});

test("item 5: a node id without --signal speaks in flags, not in library terms", async () => {
  const r = await run(["connect", stranger(), "--send", "x", ...H]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /needs the signaling broker the peer uses: add --signal mqtt:\/\/HOST:PORT/);
  assert.doesNotMatch(r.stderr, /connect\(id|brokers \}/);
  assert.doesNotMatch(r.stderr, /^connecting to/m, "nothing started");
});

test("item 5: 'no reply within' only when connected and the peer did not answer; connect timeouts say so; --timeout 0 is refused", async () => {
  const mute = await listen([]); // no --echo: never replies
  const r = await run(["connect", String(mute.ready.addr), "--send", "hi", "--timeout", "2000", ...H]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /connected to .* by direct/);
  assert.match(r.stderr, /^error: no reply within 2000 ms \(--timeout\): connected and sent, but the peer did not answer/m);
  mute.c.kill("SIGTERM");

  const frozen = await listen(["--echo"]);
  frozen.c.kill("SIGSTOP"); // the kernel still accepts TCP; no handshake ever comes
  try {
    const t = await run(["connect", String(frozen.ready.addr), "--send", "hi", "--timeout", "1500", ...H]);
    assert.equal(t.code, 1);
    assert.doesNotMatch(t.stderr, /no reply within/, t.stderr);
    assert.match(t.stderr, /error: (could not connect to [a-z2-7]+ within \d+ ms|gave up after 1500 ms \(--timeout\) while connecting)/, t.stderr);
  } finally {
    frozen.c.kill("SIGCONT");
    frozen.c.kill("SIGTERM");
  }

  const zero = await run(["connect", String(frozen.ready.addr), "--send", "hi", "--timeout", "0", ...H]);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--timeout must be a positive whole number of ms/);
  await exitWithin(frozen.exited, 20_000, "listener");
});
