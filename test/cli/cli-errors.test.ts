// Issue 13, CLI items 3, 6 and 7: a down STUN server is not a blocked network; errors do not
// leak; the smaller things (connecting… after the check, IPv6 brackets, defaults said, help).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ADDRESS_PREFIX, ADDRESS_VERSION } from "../../src/identity/address.ts";
import { base32Decode, base32Encode } from "../../src/util/encoding.ts";
import { deadPort, exitWithin, listen, root, run, start } from "./cli-support.ts";

const H = ["--host", "127.0.0.1"];

test("item 3: a STUN server that is down is 'server unreachable', NAT kind unknown, nothing false published", async () => {
  const uri = `stun:127.0.0.1:${await deadPort()}`;
  const l = await listen(["--stun", uri]);
  try {
    const nat = l.ready.nat as { udp: { natType: string; unreachable?: string[] }; tcp: { natType: string; unreachable?: string[] } };
    for (const t of [nat.tcp, nat.udp]) {
      assert.equal(t.natType, "unknown");
      assert.deepEqual(t.unreachable, [uri]);
    }
    const itfs = (l.ready.address as { interfaces: Array<{ nat: { tcp: { type: string }; udp: { type: string } } }> }).interfaces;
    for (const i of itfs) {
      assert.notEqual(i.nat.tcp.type, "blocked", "the published address does not say blocked");
      assert.notEqual(i.nat.udp.type, "blocked");
    }
    // stderr and stdout are two pipes: give the warning a moment to arrive after the ready event.
    for (let i = 0; i < 100 && !l.stderr.some((x) => /^warning: STUN server/.test(x)); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(l.stderr.some((x) => /^warning: STUN server stun:127\.0\.0\.1:\d+ refused TCP .*server is down/.test(x)), l.stderr.join("\n"));
  } finally {
    l.c.kill("SIGTERM");
  }
  const words = await run(["nat", "--stun", uri, "--transport", "tcp"]);
  assert.equal(words.code, 0);
  assert.match(words.stdout, /^TCP: unknown \(STUN server unreachable: stun:127\.0\.0\.1:\d+ refused; the network is not blocked\)/m);
  assert.doesNotMatch(words.stdout, /blocked \(/);
});

test("item 3: --stun is validated the same way, at start, by listen, connect and nat", async () => {
  const results = await Promise.all([
    run(["listen", ...H, "--stun", "notaurl"], undefined, 15_000), // before the fix it ran on, without discovery
    run(["nat", "--stun", "notaurl"]),
    run(["connect", "p2pn1x", "--stun", "notaurl"]),
  ]);
  for (const r of results) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.split("\n")[0], 'error: not a stun: URI: "notaurl" (expected stun:host[:port])');
  }
  const sig = await run(["listen", ...H, "--signal", "notaurl"], undefined, 15_000);
  assert.equal(sig.code, 2);
  assert.match(sig.stderr, /--signal "notaurl" is not a broker URL/);
});

test("item 6: a closed stdout (listen --json | head -1) ends listen quietly, exit 0, no EPIPE", async () => {
  const l = start(["listen", ...H, "--json"]);
  const first = await l.waitOut(/"event"/);
  assert.match(first, /^\{"event":/);
  l.c.stdout!.destroy(); // like head -1 after its line
  const addr = (JSON.parse(first) as { addr?: string }).addr;
  assert.ok(addr, first);
  // Make the listener write: a peer connects and sends (its events go to the closed stdout).
  await run(["connect", addr, "--send", "x", "--timeout", "3000", ...H]);
  const code = await exitWithin(l.exited, 20_000, "listen with a closed stdout");
  assert.equal(code, 0, l.stderr.join("\n"));
  assert.doesNotMatch(l.stderr.join("\n"), /EPIPE|Unhandled|at .*\.ts:\d+/);
});

test("item 6: --help into a closed stdout (p2pnode connect --help | head -1) exits 0, no EPIPE", async () => {
  for (const args of [["--help"], ["connect", "--help"], ["listen", "--help"]]) {
    const p = start(args);
    p.c.stdout!.destroy(); // the reader is gone before the help text is written
    const code = await exitWithin(p.exited, 20_000, `${args.join(" ")} with a closed stdout`);
    assert.equal(code, 0, p.stderr.join("\n"));
    assert.doesNotMatch(p.stderr.join("\n"), /EPIPE|Unhandled|at .*\.(ts|js):\d+/);
  }
});

test("item 6: an all-'a' node id (all-zero key) is a clean InvalidArgumentError, never an OpenSSL error", async () => {
  const id = "a".repeat(52);
  for (const extra of [[], ["--signal", "mqtt://127.0.0.1:1"]]) {
    const r = await run(["connect", id, "--send", "x", "--json", ...extra, ...H]);
    assert.equal(r.code, 1);
    const err = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(err.code, "P2P_ERR_INVALID_ARGUMENT");
    assert.match(err.message, /not a valid Ed25519 public key/);
    assert.doesNotMatch(r.stderr + r.stdout, /OSSL|ERR_OSSL|    at /);
  }
  const plain = await run(["connect", id, "--send", "x", ...H]);
  assert.match(plain.stderr, /^error: not a node id: "a{52}" is not a valid Ed25519 public key/m);
});

test("item 6: --log rejects unknown levels (exit 2); known levels are accepted", async () => {
  for (const cmd of ["listen", "connect", "nat", "signal"]) {
    const r = await run([cmd, "--log", "verbose", ...(cmd === "connect" ? ["p2pn1x"] : [])]);
    assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
    assert.match(r.stderr, /--log must be one of silent, error, warn, info, debug \(got "verbose"\)/);
  }
  const ok = await run(["nat", "--log", "debug", "--help"]);
  assert.equal(ok.code, 0);
});

test("item 7: 'connecting' only after the address is checked; IPv6 endpoints in brackets", async () => {
  const bad = await run(["connect", "p2pn1notanaddress", "--send", "x", ...H]);
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.stderr, /connecting/);
  const l = await listen(["--echo"], "::1");
  try {
    const r = await run(["connect", String(l.ready.addr), "--send", "hi", "--host", "::1"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stderr.split("\n");
    assert.match(lines[0], /^connecting to [a-z2-7]{12}…$/);
    assert.ok(lines.some((x) => /^ {2}trying \[::1\]:\d+ /.test(x)), r.stderr);
  } finally {
    l.c.kill("SIGTERM");
  }
});

test("item 7: listen without --host says it listens everywhere and asks the gateway for a mapping", async () => {
  const l = start(["listen"]);
  try {
    await l.waitOut(/^p2pn1/);
    assert.ok(l.stderr.some((x) => /^listening on every interface/.test(x)), l.stderr.join("\n"));
    assert.ok(l.stderr.some((x) => /^asking the gateway to forward the port .*--no-portmap/.test(x)), l.stderr.join("\n"));
  } finally {
    l.c.kill("SIGTERM");
    await l.exited;
  }
  const quiet = start(["listen", ...H]);
  await quiet.waitOut(/^p2pn1/);
  assert.ok(!quiet.stderr.some((x) => /every interface|asking the gateway/.test(x)), quiet.stderr.join("\n"));
  quiet.c.kill("SIGTERM");
});

test("item 7: every --help ends with an example and documents exit codes; TURN is offered where it exists", async () => {
  for (const cmd of [[], ["listen"], ["connect"], ["nat"], ["stun"], ["signal"], ["turn"]]) {
    const r = await run([...cmd, "--help"]);
    assert.equal(r.code, 0);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines.at(-1)!, /^ {2}\$ p2pnode /, `${cmd.join(" ") || "p2pnode"} --help ends with an example`);
    assert.match(r.stdout, /Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 /);
    // No secret-bearing flag is offered: the password comes from the environment or a file.
    assert.doesNotMatch(r.stdout, /--turn-pass\b(?!-file)/, "no --turn-pass flag in the help");
    if (cmd[0] === "listen" || cmd[0] === "connect") assert.match(r.stdout, /--turn <uri>[\s\S]*--turn-user <name>[\s\S]*--turn-pass-file <file>/);
  }
  const readme = readFileSync(`${root}README.md`, "utf8");
  const cli = readme.slice(readme.indexOf("## CLI"), readme.indexOf("\n## ", readme.indexOf("## CLI") + 1));
  assert.match(cli, /Exit codes/);
  for (const code of ["0", "1", "2", "3"]) assert.match(cli, new RegExp(`\\| \`${code}\` \\|`));
});

test(
  "item 7: an address whose version byte was hit says 'corrupted or from a newer p2pnode'",
  async () => {
    const l = await listen([]);
    l.c.kill("SIGTERM");
    const raw = base32Decode(String(l.ready.addr).slice(ADDRESS_PREFIX.length))!;
    raw[0] = ADDRESS_VERSION + 1; // a typo in the first characters
    const r = await run(["connect", ADDRESS_PREFIX + base32Encode(raw), "--send", "x", ...H]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /corrupted .*or from a newer p2pnode/);
  },
);
