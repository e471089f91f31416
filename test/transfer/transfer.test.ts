// sendFiles / receiveFiles over real pipes between two nodes on loopback: round trip, resume,
// prefix and checksum mismatches, symlinks, hostile chunks, timeouts, bounded memory, a full disk.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ChecksumError, DiskFullError, InvalidArgumentError, PermissionDeniedError, ProtocolError, RefusedError, TimeoutError } from "../../src/errors.ts";
import { startNode, type Node, type Pipe } from "../../src/index.ts";
import { encode } from "../../src/transfer/codec.ts";
import { fsError } from "../../src/transfer/disk.ts";
import { receiveFiles, sendFiles, type TransferEvent } from "../../src/transfer/index.ts";

const work = mkdtempSync(join(tmpdir(), "p2pn-transfer-"));
const nodes: Node[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  rmSync(work, { recursive: true, force: true });
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const dir = (p: string) => mkdtempSync(join(work, p));

/** Two nodes on loopback and the pipe between them: `tx` connected, `rx` accepted. */
async function pair(): Promise<{ tx: Pipe; rx: Pipe }> {
  const a = await startNode({ host: "127.0.0.1" });
  const b = await startNode({ host: "127.0.0.1" });
  nodes.push(a, b);
  const rx = new Promise<Pipe>((r) => a.once("pipe", r));
  const tx = await b.connect(a.addr);
  return { tx, rx: await rx };
}

function files(specs: Record<string, number | Buffer>): { dir: string; paths: string[]; data: Record<string, Buffer> } {
  const d = dir("src-");
  const data: Record<string, Buffer> = {};
  for (const [name, spec] of Object.entries(specs)) {
    data[name] = typeof spec === "number" ? randomBytes(spec) : spec;
    writeFileSync(join(d, name), data[name]!);
  }
  return { dir: d, paths: Object.keys(specs).map((n) => join(d, n)), data };
}

test("several files (one empty) arrive whole; a second run finds them there and sends nothing", async () => {
  const src = files({ "a.bin": 700_000, "empty.txt": 0, "c.dat": 3 });
  const out = dir("out-");
  const seen: TransferEvent["event"][] = [];
  let { tx, rx } = await pair();
  const [sent, got] = await Promise.all([sendFiles(tx, src.paths, { chunkSize: 64 * 1024 }), receiveFiles(rx, { dir: out, onEvent: (e) => seen.push(e.event) })]);
  assert.equal(sent.bytes, 700_003);
  assert.deepEqual(got.files.map((f) => f.name), ["a.bin", "empty.txt", "c.dat"]);
  for (const [name, data] of Object.entries(src.data)) assert.equal(sha(readFileSync(join(out, name))), sha(data));
  assert.deepEqual([...new Set(seen)], ["offer", "file", "progress", "verified"]);
  ({ tx, rx } = await pair());
  const [again] = await Promise.all([sendFiles(tx, src.paths), receiveFiles(rx, { dir: out })]);
  assert.equal(again.bytes, 0);
  assert.ok(again.files.every((f) => f.skipped));
});

test("a partial of the same file resumes at its end; a partial with wrong bytes restarts from 0", async () => {
  const data = randomBytes(1_000_000);
  const src = files({ "big.bin": data });
  const sidecar = JSON.stringify({ v: 1, size: data.length, sha256: sha(data) });
  for (const [what, partial, from] of [
    ["good prefix", data.subarray(0, 400_000), 400_000],
    ["corrupt prefix", Buffer.concat([data.subarray(0, 100), Buffer.from("XX"), data.subarray(102, 400_000)]), 0],
  ] as const) {
    const out = dir("out-");
    writeFileSync(join(out, "big.bin.p2pnode-part"), partial);
    writeFileSync(join(out, "big.bin.p2pnode-part.json"), sidecar);
    const { tx, rx } = await pair();
    const [sent] = await Promise.all([sendFiles(tx, src.paths), receiveFiles(rx, { dir: out })]);
    assert.equal(sent.files[0]!.resumedFrom, from, what);
    assert.equal(sent.bytes, data.length - from, what);
    assert.equal(sha(readFileSync(join(out, "big.bin"))), sha(data), what);
    assert.ok(!existsSync(join(out, "big.bin.p2pnode-part")) && !existsSync(join(out, "big.bin.p2pnode-part.json")), what);
  }
});

/** A hostile sender: an offer, then whatever `body` sends; returns the receiver's outcome. */
async function hostile(out: string, offer: { name: string; size: number; sha256: string }, body: (tx: Pipe) => Promise<void>) {
  const { tx, rx } = await pair();
  const got = receiveFiles(rx, { dir: out, timeout: 5000 });
  got.catch(() => {});
  await tx.send(encode({ type: "offer", files: [offer] }));
  await tx.recv({ timeout: 5000 }); // the answer
  await body(tx);
  return got.then(() => undefined, (e: unknown) => e);
}

test("bytes that do not match the offered SHA-256: ChecksumError, the partial is deleted, the name never appears", async () => {
  const out = dir("out-");
  const err = await hostile(out, { name: "x.bin", size: 4, sha256: sha(Buffer.from("good")) }, async (tx) => {
    await tx.send(encode({ type: "start", index: 0, offset: 0 }));
    await tx.send(encode({ type: "chunk", index: 0, offset: 0, data: Buffer.from("evil") }));
  });
  assert.ok(err instanceof ChecksumError, String(err));
  assert.ok(!existsSync(join(out, "x.bin")) && !existsSync(join(out, "x.bin.p2pnode-part")));
});

test("chunks out of place or past the offered size: ProtocolError", async () => {
  for (const chunk of [
    { type: "chunk" as const, index: 0, offset: 2, data: Buffer.from("ab") },
    { type: "chunk" as const, index: 0, offset: 0, data: Buffer.from("abcdef") },
  ]) {
    const err = await hostile(dir("out-"), { name: "y.bin", size: 4, sha256: "0".repeat(64) }, async (tx) => {
      await tx.send(encode({ type: "start", index: 0, offset: 0 }));
      await tx.send(encode(chunk));
    });
    assert.ok(err instanceof ProtocolError, String(err));
  }
});

test("symlinks in --out are never written through: a linked name or a linked sidecar is refused", async () => {
  const outside = join(dir("outside-"), "victim.txt");
  writeFileSync(outside, "untouched");
  const src = files({ "name.txt": Buffer.from("payload") });
  for (const link of ["name.txt", "name.txt.p2pnode-part", "name.txt.p2pnode-part.json"]) {
    const out = dir("out-");
    symlinkSync(outside, join(out, link));
    const { tx, rx } = await pair();
    const [s, r] = await Promise.allSettled([sendFiles(tx, src.paths), receiveFiles(rx, { dir: out })]);
    assert.equal(r.status, "rejected", link);
    assert.ok(r.status === "rejected" && r.reason instanceof RefusedError, `${link}: ${r.status === "rejected" && r.reason}`);
    assert.ok(s.status === "rejected" && s.reason instanceof RefusedError, `${link}: the sender is told`);
    assert.equal(readFileSync(outside, "utf8"), "untouched", link);
  }
});

test("an offer over the receiver's limits is refused before anything is written", async () => {
  const src = files({ "a.bin": 10, "b.bin": 10 });
  const out = dir("out-");
  const { tx, rx } = await pair();
  const [s, r] = await Promise.allSettled([sendFiles(tx, src.paths), receiveFiles(rx, { dir: out, maxFiles: 1 })]);
  assert.ok(r.status === "rejected" && r.reason instanceof RefusedError && /at most 1/.test(r.reason.message));
  assert.ok(s.status === "rejected" && s.reason instanceof RefusedError && /the receiver: offered 2 files/.test(s.reason.message));
});

test("a silent peer: the receiver's wait for the offer ends in a TimeoutError", async () => {
  const { rx } = await pair();
  await assert.rejects(receiveFiles(rx, { dir: dir("out-"), timeout: 300 }), (e: unknown) => e instanceof TimeoutError && /waiting for offer/.test((e as Error).message));
});

test("bounded memory: a receiver that stops reading stalls the sender (backpressure), which gives up after its timeout", async () => {
  const d = dir("sparse-");
  const path = join(d, "huge.img");
  writeFileSync(path, "");
  truncateSync(path, 512 * 1024 * 1024); // sparse: 512 MiB of zeros, no disk used
  const { tx, rx } = await pair();
  let maxDone = 0;
  const sending = sendFiles(tx, [path], { timeout: 1500, onEvent: (e) => e.event === "progress" && (maxDone = e.done) });
  // The receiving end answers "send it all" and then reads nothing more.
  const offer = await rx.recv({ timeout: 10_000 });
  assert.equal(offer.data[0], 1);
  await rx.send(encode({ type: "answer", files: [{ offset: 0 }] }));
  await assert.rejects(sending, (e: unknown) => e instanceof TimeoutError && /took no data/.test((e as Error).message));
  // What left the sender is what the pipe's queues and socket buffers hold (16 MiB queue each side), not the file.
  assert.ok(maxDone < 96 * 1024 * 1024, `sent ${maxDone} bytes into a receiver that reads nothing`);
});

test("filesystem errors become typed errors that say what to do (table)", () => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  assert.ok(fsError(e("ENOSPC"), "w") instanceof DiskFullError);
  assert.ok(fsError(e("EDQUOT"), "w") instanceof DiskFullError);
  for (const c of ["EACCES", "EPERM", "EROFS"]) assert.ok(fsError(e(c), "w") instanceof PermissionDeniedError, c);
  assert.ok(fsError(e("ELOOP"), "w") instanceof RefusedError);
  assert.ok(fsError(e("ENOENT"), "w") instanceof InvalidArgumentError);
  assert.match(fsError(e("ENOSPC"), "cannot write x").message, /cannot write x: no space left .*free some space and run again, the transfer resumes/);
});

const root = process.getuid?.() === 0;
test("a disk that fills up mid-transfer: DiskFullError on both sides, the partial kept for a resume", { skip: root ? false : "needs root to mount a small tmpfs" }, async () => {
  const mnt = dir("tmpfs-");
  assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt]).status, 0, "mount tmpfs");
  try {
    const out = join(mnt, "out");
    mkdirSync(out);
    const src = files({ "fill.bin": 3 * 1024 * 1024 });
    const { tx, rx } = await pair();
    // Free space is checked first (3 MiB fits in 4 MiB); something else then takes the space mid-transfer.
    let filled = false;
    const onEvent = (ev: TransferEvent) => {
      if (ev.event === "file" && !filled) {
        filled = true;
        writeFileSync(join(mnt, "other.bin"), Buffer.alloc(3 * 1024 * 1024));
      }
    };
    const [s, r] = await Promise.allSettled([sendFiles(tx, src.paths, { chunkSize: 256 * 1024 }), receiveFiles(rx, { dir: out, onEvent })]);
    assert.ok(r.status === "rejected" && r.reason instanceof DiskFullError, String(r.status === "rejected" && r.reason));
    assert.ok(s.status === "rejected" && s.reason instanceof DiskFullError && /its disk is full/.test(s.reason.message));
    assert.ok(existsSync(join(out, "fill.bin.p2pnode-part.json")), "the partial's sidecar stays");
    assert.ok(statSync(join(out, "fill.bin.p2pnode-part")).size < 3 * 1024 * 1024);
  } finally {
    spawnSync("umount", [mnt]);
  }
});

test("an offer that cannot fit on the disk is refused up front with the sizes", { skip: root ? false : "needs root to mount a small tmpfs" }, async () => {
  const mnt = dir("tmpfs-");
  assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).status, 0);
  try {
    const src = files({ "big.bin": 2 * 1024 * 1024 });
    const { tx, rx } = await pair();
    const [s, r] = await Promise.allSettled([sendFiles(tx, src.paths), receiveFiles(rx, { dir: mnt })]);
    assert.ok(r.status === "rejected" && r.reason instanceof DiskFullError && /need 2\.0 MiB more/.test(r.reason.message));
    assert.ok(s.status === "rejected" && s.reason instanceof DiskFullError);
  } finally {
    spawnSync("umount", [mnt]);
  }
});
