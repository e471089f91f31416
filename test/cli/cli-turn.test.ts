// Issue 16, the CLI side of TURN: `p2pnode turn` runs the embedded relay; connect --turn relays
// through it with the password from P2PNODE_TURN_PASS or --turn-pass-file, never from argv; the
// terminal says which relay carries the pipe; missing or wrong credentials are clear errors that
// never echo the password. Real relay, broker and nodes on loopback.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startBroker } from "../../src/signaling/broker.ts";
import { listen, run, start } from "./cli-support.ts";

const PASS = "cli-test-only-password";
let broker: Awaited<ReturnType<typeof startBroker>>;
let relay: ReturnType<typeof start>;
let relayUrl: string;
let passFile: string;

before(async () => {
  broker = await startBroker({ host: "127.0.0.1", port: 0 });
  relay = start(["turn", "--port", "0", "--user", `alice:${PASS}`]);
  relayUrl = /turn:127\.0\.0\.1:\d+/.exec(await relay.waitOut(/^TURN relay ready: turn:127\.0\.0\.1:\d+ \(UDP; users: alice\)/))![0];
  const dir = mkdtempSync(join(tmpdir(), "p2pn-cli-turn-"));
  passFile = join(dir, "turn-pass");
  writeFileSync(passFile, `${PASS}\n`, { mode: 0o600 });
});
after(async () => {
  relay.c.kill("SIGTERM");
  await relay.exited;
  await broker.close();
});

const peerFlags = () => ["--allow-private", "--signal", broker.url, "--no-portmap"];
const turnFlags = () => ["--turn", relayUrl, "--turn-user", "alice", "--via", "turn"];

test("p2pnode turn says how to use it; connect --via turn relays through it (password from --turn-pass-file) and says so on both ends", async () => {
  assert.match(await relay.waitErr(/^use it from a node/), new RegExp(`--turn ${relayUrl.replace(/[.]/g, "\\.")} --turn-user alice \\(password in P2PNODE_TURN_PASS`));
  const peer = await listen(["--echo", ...peerFlags()]);
  try {
    const r = await run(["connect", String(peer.ready.addr), "--host", "127.0.0.1", ...peerFlags(), ...turnFlags(), "--turn-pass-file", passFile, "--send", "through the relay"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "through the relay");
    assert.match(r.stderr, new RegExp(`relay ${relayUrl.replace(/[.]/g, "\\.")} gave us 127\\.0\\.0\\.1:\\d+ \\(UDP\\)`));
    assert.match(r.stderr, new RegExp(`connected to .* by turn through ${relayUrl.replace(/[.]/g, "\\.")} \\(UDP relay\\)`));
    const pipe = peer.events.find((e) => e.event === "pipe")!; // it echoed, so it had the pipe
    assert.equal(pipe.strategy, "turn");
    assert.deepEqual(Object.keys(pipe.relay as object).sort(), ["relayed", "transport"]);
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(PASS));
  } finally {
    peer.c.kill("SIGTERM");
  }
});

test("the password from P2PNODE_TURN_PASS, with --json: the connected event names the relay and its transport", async () => {
  const peer = await listen(["--echo", ...peerFlags()]);
  try {
    const r = await run(["connect", String(peer.ready.addr), "--host", "127.0.0.1", "--json", ...peerFlags(), ...turnFlags(), "--send", "x"], undefined, 60_000, { P2PNODE_TURN_PASS: PASS });
    assert.equal(r.code, 0, r.stderr);
    const connected = r.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((e) => e.event === "connected");
    assert.equal(connected.strategy, "turn");
    assert.equal(connected.relay.server, relayUrl);
    assert.equal(connected.relay.transport, "udp");
  } finally {
    peer.c.kill("SIGTERM");
  }
});

test("credentials that are missing, on the command line or wrong: usage errors (2) or a relay error (1), never the password echoed", async () => {
  const addr = "p2pn1-not-reached";
  const cases: Array<[string[], Record<string, string> | undefined, number, RegExp]> = [
    [["connect", addr, "--turn", relayUrl], undefined, 2, /--turn needs --turn-user NAME/],
    [["connect", addr, "--turn", relayUrl, "--turn-user", "alice"], { P2PNODE_TURN_PASS: "" }, 2, /needs a password: set P2PNODE_TURN_PASS or use --turn-pass-file/],
    [["connect", addr, "--turn", relayUrl, "--turn-user", "alice", "--turn-pass", PASS], undefined, 2, /visible to every user in the process list/],
    [["connect", addr, "--turn-user", "alice"], undefined, 2, /need --turn turn:HOST:PORT/],
    [["connect", addr, "--turn", "turn:127.0.0.1", "--turn-user", "alice", "--turn-pass-file", "/nonexistent/p2pn-pass"], undefined, 2, /cannot read --turn-pass-file \/nonexistent\/p2pn-pass: ENOENT/],
    [["turn", "--port", "0"], undefined, 2, /give at least one --user NAME:PASS/],
    [["turn", "--port", "0", "--user", "bob"], { P2PNODE_TURN_PASS: "" }, 2, /--user bob has no password/],
  ];
  for (const [args, env, code, re] of cases) {
    const r = await run(args, undefined, 30_000, env);
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.doesNotMatch(r.stderr + r.stdout, new RegExp(PASS), "the password is never echoed");
  }
});

test("a wrong TURN password: exit 1, the error names the relay and says the credentials were refused", async () => {
  const peer = await listen(["--echo", ...peerFlags()]);
  try {
    const r = await run(["connect", String(peer.ready.addr), "--host", "127.0.0.1", ...peerFlags(), ...turnFlags(), "--send", "x", "--timeout", "15000"], undefined, 60_000, { P2PNODE_TURN_PASS: "not-the-password" });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${relayUrl.replace(/[.]/g, "\\.")}.*(credentials|401)`, "i"));
    assert.doesNotMatch(r.stderr, /not-the-password/);
  } finally {
    peer.c.kill("SIGTERM");
  }
});
