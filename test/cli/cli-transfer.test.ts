// `p2pnode send` / `p2pnode receive` as a user runs them, on loopback: a few MiB with the
// checksum, a resume after the sender is killed mid-way, a hostile `../` name, an unwritable --out.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startNode } from "../../src/index.ts";
import { decode, encode } from "../../src/transfer/codec.ts";
import { bin, exitWithin, root, run, start } from "./cli-support.ts";

const LOCAL = ["--host", "127.0.0.1", "--no-portmap", "--allow-private"];
const work = mkdtempSync(join(tmpdir(), "p2pn-cli-transfer-"));
after(() => rmSync(work, { recursive: true, force: true }));

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const events = (lines: string[]) => lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);

function fixture(name: string, bytes: number): string {
  const dir = mkdtempSync(join(work, "src-"));
  const path = join(dir, name);
  writeFileSync(path, randomBytes(bytes));
  return path;
}

async function receiver(out: string) {
  const r = start(["receive", ...LOCAL, "--out", out, "--json"]);
  const ready = JSON.parse(await r.waitOut(/"event":"ready"/)) as { addr: string };
  return { ...r, addr: ready.addr };
}

test("send → receive: a few MiB arrive whole, SHA-256 verified on both sides; receive exits 0", async () => {
  const file = fixture("photo.bin", 3 * 1024 * 1024 + 17);
  const out = mkdtempSync(join(work, "out-"));
  const rx = await receiver(out);
  const tx = await run(["send", file, "--to", rx.addr, ...LOCAL, "--json"], undefined, 60_000);
  assert.equal(tx.code, 0, tx.stderr);
  const sent = events(tx.stdout.split("\n"));
  assert.equal(sent.find((e) => e.event === "verified")?.sha256, sha(file));
  assert.equal((sent.find((e) => e.event === "done") as { bytes: number }).bytes, statSync(file).size);
  assert.equal(await exitWithin(rx.exited, 15_000, "receive"), 0, rx.stderr.join("\n"));
  assert.equal(sha(join(out, "photo.bin")), sha(file));
  assert.ok(!existsSync(join(out, "photo.bin.p2pnode-part")), "no partial left behind");
  assert.ok(events(rx.stdout).some((e) => e.event === "done"));
});

test("the sender killed mid-way: the receiver keeps the partial, the next send resumes it (not from 0)", async () => {
  const size = 64 * 1024 * 1024;
  const file = fixture("big.iso", size);
  const out = mkdtempSync(join(work, "out-"));
  const rx = await receiver(out);
  const first = start(["send", file, "--to", rx.addr, ...LOCAL, "--json"]);
  await first.waitOut(/"event":"progress","index":0/); // file bytes are moving
  first.c.kill("SIGKILL");
  await exitWithin(first.exited, 10_000, "killed sender");
  await rx.waitOut(/"event":"path".*"state":"lost"/); // the receiver sees its sender gone (and would wait out the resume window)
  const kept = statSync(join(out, "big.iso.p2pnode-part")).size;
  assert.ok(kept > 0 && kept < size, `a partial file of ${kept} bytes`);
  assert.ok(existsSync(join(out, "big.iso.p2pnode-part.json")), "its sidecar");

  // The sender's next run opens a new pipe: the receiver drops the lost one and resumes from the partial.
  const second = await run(["send", file, "--to", rx.addr, ...LOCAL, "--json"], undefined, 90_000);
  assert.equal(second.code, 0, second.stderr);
  const ev = events(second.stdout.split("\n"));
  const resumedAt = (ev.find((e) => e.event === "file") as { offset: number }).offset;
  assert.ok(resumedAt >= kept - 4 * 1024 * 1024 && resumedAt > 0, `resumed at ${resumedAt} (partial held ${kept})`);
  assert.equal((ev.find((e) => e.event === "done") as { bytes: number }).bytes, size - resumedAt, "only the missing bytes were sent");
  assert.ok(events(rx.stdout).some((e) => e.event === "interrupted"), "the receiver reported the first transfer as interrupted");
  assert.equal(await exitWithin(rx.exited, 15_000, "receive"), 0, rx.stderr.join("\n"));
  assert.equal(sha(join(out, "big.iso")), sha(file));
  assert.ok(!existsSync(join(out, "big.iso.p2pnode-part.json")));
});

test("a hostile sender offering ../escape is refused: nothing is written outside --out, receive exits 1", async () => {
  const out = mkdtempSync(join(work, "out-"));
  const rx = await receiver(out);
  const node = await startNode({ host: "127.0.0.1", allowPrivate: true });
  try {
    const pipe = await node.connect(rx.addr);
    await pipe.send(encode({ type: "offer", files: [{ name: "../escape", size: 4, sha256: "0".repeat(64) }] }));
    const reply = decode((await pipe.recv({ timeout: 10_000 })).data);
    assert.equal(reply.type, "error");
    assert.equal(reply.type === "error" && reply.code, "refused");
    assert.match(reply.type === "error" ? reply.message : "", /path separator/);
  } finally {
    await node.close();
  }
  assert.equal(await exitWithin(rx.exited, 15_000, "receive"), 1);
  const err = events(rx.stdout).find((e) => e.event === "error");
  assert.equal(err?.code, "P2P_ERR_REFUSED");
  assert.match(String(err?.message), /refused the name "\.\.\/escape": it contains a path separator/);
  assert.ok(!existsSync(join(out, "..", "escape")));
});

test("an unwritable --out: receive says so before listening (EACCES, what to do), exit 1", async () => {
  const out = mkdtempSync(join(work, "ro-"));
  chmodSync(out, 0o555);
  chmodSync(work, 0o755);
  // root writes anywhere: run the command as nobody, as a user without the right would.
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  const c = spawn(process.execPath, [bin, "receive", ...LOCAL, "--out", out], { cwd: root, stdio: ["ignore", "pipe", "pipe"], ...asUser });
  let stderr = "";
  let stdout = "";
  c.stderr.on("data", (d) => (stderr += d));
  c.stdout.on("data", (d) => (stdout += d));
  const code = await exitWithin(new Promise((r) => c.once("close", r)), 30_000, "receive into an unwritable directory");
  assert.equal(code, 1, stderr);
  assert.match(stderr, /cannot write into .*permission denied \(EACCES\); fix the permissions or choose another directory \[P2P_ERR_PERMISSION_DENIED\]/);
  assert.equal(stdout, "", "no address printed: nothing listens");
});

test("send without --to, or of a missing file: a usage error (2) / an error (1) that says what to do", async () => {
  const noTo = await run(["send", "x.bin"]);
  assert.equal(noTo.code, 2);
  assert.match(noTo.stderr, /send needs --to ADDR: the address \(p2pn1…\) that `p2pnode receive` printed/);
  const badAddr = await run(["send", join(work, "nope.bin"), "--to", "p2pn1xyz", ...LOCAL]);
  assert.equal(badAddr.code, 1);
  assert.match(badAddr.stderr, /\[P2P_ERR_ADDRESS\]/);
  const peer = await startNode({ host: "127.0.0.1" });
  try {
    const missing = await run(["send", join(work, "nope.bin"), "--to", peer.addr, ...LOCAL]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /error: cannot read .*nope\.bin: no such file or directory/);
    assert.doesNotMatch(missing.stderr, /connecting/, "checked before any network");
  } finally {
    await peer.close();
  }
  const help = await run(["send", "--help"]);
  assert.match(help.stdout, /Examples:\n\s+\$ p2pnode send photo\.jpg/);
  assert.match(help.stdout, /Exit codes:/);
  const rhelp = await run(["receive", "--help"]);
  assert.match(rhelp.stdout, /\$ p2pnode receive --out/);
});
