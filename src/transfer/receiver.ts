/**
 * The receiving side of a file transfer over a Pipe (docs/transfer.md). The
 * offer is hostile until checked: names (names.ts), counts and sizes bounded,
 * free space checked. Each file is written to a partial file with a sidecar;
 * a partial of the same file is resumed after its prefix hash is offered to
 * the sender; the whole file's SHA-256 is checked before it gets its name.
 * Chunks are taken one at a time and written before the next (memory bounded
 * by the pipe's queue).
 */
import { createHash, type Hash } from "node:crypto";
import { statfs } from "node:fs/promises";
import { ChecksumError, DiskFullError, ProtocolError, RefusedError } from "../errors.ts";
import { systemClock } from "../util/clock.ts";
import { TRANSFER_LIMITS, type FileAnswer, type FileOffer } from "./codec.ts";
import { PartFile, fsError, hashFile, inspect, outDir } from "./disk.ts";
import { Link, type TransferPipe } from "./link.ts";
import { PART_SUFFIX, nameKey, unsafeName } from "./names.ts";
import { decideResume } from "./resume.ts";
import type { TransferOptions, TransferResult, TransferredFile } from "./types.ts";
import { formatBytes } from "./meter.ts";
import { join } from "node:path";

/** Options of receiveFiles(): the output directory and the limits on what a sender may offer. */
/** receiveFiles() options. */
export interface ReceiveOptions extends TransferOptions {
  /** The output directory: nothing is written anywhere else. */
  dir: string;
  /** Most files accepted in one offer. @default 1000 */
  maxFiles?: number;
  /** Largest file accepted, bytes. @default 1 PiB */
  maxFileSize?: number;
  /** Largest sum of the offered sizes, bytes. @default 1 PiB */
  maxTotalSize?: number;
}

interface Plan {
  offer: FileOffer;
  answer: FileAnswer;
  /** SHA-256 state over the kept prefix (resume), to carry on hashing from there. */
  prefix?: Hash;
}

/** Refuses an offer a receiver must not act on: the reason names the first bad entry. */
export function checkOffer(files: readonly FileOffer[], limits: { maxFiles: number; maxFileSize: number; maxTotalSize: number }): void {
  if (files.length > limits.maxFiles) throw new RefusedError(`offered ${files.length} files; at most ${limits.maxFiles} are accepted`);
  const seen = new Set<string>();
  let total = 0;
  for (const f of files) {
    const why = unsafeName(f.name);
    if (why) throw new RefusedError(`refused the name ${JSON.stringify(f.name.slice(0, 80))}: it ${why}`);
    if (seen.has(nameKey(f.name))) throw new RefusedError(`the name ${JSON.stringify(f.name)} is offered twice`);
    seen.add(nameKey(f.name));
    if (f.size > limits.maxFileSize) throw new RefusedError(`${f.name} is ${f.size} bytes, over the ${limits.maxFileSize}-byte limit`);
    total += f.size;
  }
  if (total > limits.maxTotalSize) throw new RefusedError(`the files add up to ${total} bytes, over the ${limits.maxTotalSize}-byte limit`);
}

async function plan(dir: string, offer: FileOffer, signal?: AbortSignal): Promise<Plan> {
  const facts = await inspect(dir, offer.name, offer, signal);
  const d = decideResume(offer, facts);
  switch (d.action) {
    case "conflict":
      throw new RefusedError(`${offer.name} ${d.why} in the output directory (exists): move it away, or receive into another --out`);
    case "complete":
      return { offer, answer: { offset: offer.size, complete: true } };
    case "fresh":
      return { offer, answer: { offset: 0 } };
    case "resume": {
      let prefix: Hash;
      try {
        prefix = await hashFile(join(dir, offer.name + PART_SUFFIX), d.offset, signal);
      } catch (err) {
        throw fsError(err, `cannot read the partial ${offer.name}`);
      }
      return { offer, answer: { offset: d.offset, prefix: prefix.copy().digest("hex") }, prefix };
    }
  }
}

/** Fails early, with the sizes, when the files cannot fit on the output directory's disk. */
async function checkSpace(dir: string, needed: number): Promise<void> {
  let free: number;
  try {
    const s = await statfs(dir);
    free = Number(s.bavail) * Number(s.bsize);
  } catch {
    return; // unknown: the writes will tell
  }
  if (needed > free) throw new DiskFullError(`the files need ${formatBytes(needed)} more and the output directory's disk has ${formatBytes(free)} free; free some space or choose another --out`);
}

/**
 * Receives the files the peer at the other end of `pipe` sends (sendFiles)
 * into `o.dir`. Resolves when every file was verified and saved; rejects with
 * a typed error (the sender is told why, unless it was the one that failed).
 * Partial files are kept for a later resume, except one whose checksum failed.
 */
export async function receiveFiles(pipe: TransferPipe, o: ReceiveOptions): Promise<TransferResult> {
  const clock = o.clock ?? systemClock;
  const t0 = clock.now();
  const emit = o.onEvent ?? (() => {});
  const dir = await outDir(o.dir);
  const link = new Link(pipe, { timeout: o.timeout ?? 60_000, signal: o.signal, timers: o.timers, peer: "the sender" });
  const limits = {
    maxFiles: Math.min(o.maxFiles ?? TRANSFER_LIMITS.maxFiles, TRANSFER_LIMITS.maxFiles),
    maxFileSize: Math.min(o.maxFileSize ?? TRANSFER_LIMITS.maxFileSize, TRANSFER_LIMITS.maxFileSize),
    maxTotalSize: o.maxTotalSize ?? TRANSFER_LIMITS.maxFileSize,
  };
  let part: PartFile | undefined;
  let index: number | undefined;
  try {
    const offer = await link.recv(["offer"]);
    emit({ event: "offer", files: offer.files });
    checkOffer(offer.files, limits);
    const plans: Plan[] = [];
    for (const f of offer.files) plans.push(await plan(dir, f, o.signal));
    await checkSpace(dir, plans.reduce((n, p) => n + p.offer.size - p.answer.offset, 0));
    await link.send({ type: "answer", files: plans.map((p) => p.answer) });

    const total = offer.files.reduce((n, f) => n + f.size, 0);
    let done = 0;
    let moved = 0;
    const result: TransferredFile[] = [];
    for (let i = 0; i < plans.length; i++) {
      const { offer: f, answer, prefix } = plans[i]!;
      index = i;
      if (answer.complete) {
        done += f.size;
        emit({ event: "skip", index: i, name: f.name, size: f.size });
        result.push({ ...f, resumedFrom: f.size, skipped: true });
        continue;
      }
      const start = await link.recv(["start"]);
      if (start.index !== i) throw new ProtocolError(`the sender started file ${start.index}; file ${i} was next`);
      if (start.offset !== 0 && start.offset !== answer.offset) throw new ProtocolError(`the sender starts ${f.name} at ${start.offset}; only 0 or ${answer.offset} were possible`);
      const hash = start.offset === 0 ? createHash("sha256") : prefix!;
      part = await PartFile.open(dir, f.name, f, start.offset);
      emit({ event: "file", index: i, name: f.name, size: f.size, offset: start.offset });
      done += start.offset;
      let pos = start.offset;
      while (pos < f.size) {
        const c = await link.recv(["chunk"]);
        if (c.index !== i || c.offset !== pos) throw new ProtocolError(`the sender sent bytes at ${c.offset} of file ${c.index}; ${pos} of file ${i} was next`);
        if (pos + c.data.length > f.size) throw new ProtocolError(`the sender sent more than the ${f.size} bytes it offered for ${f.name}`);
        await part.write(c.data, pos);
        hash.update(c.data);
        pos += c.data.length;
        moved += c.data.length;
        done += c.data.length;
        emit({ event: "progress", index: i, name: f.name, bytes: pos, size: f.size, done, total });
      }
      const sha256 = hash.digest("hex");
      if (sha256 !== f.sha256) {
        await part.discard();
        part = undefined;
        throw new ChecksumError(`${f.name} arrived with SHA-256 ${sha256}, not the offered ${f.sha256}; the partial was deleted: send it again`);
      }
      await part.finish();
      part = undefined;
      await link.send({ type: "verified", index: i, sha256 });
      emit({ event: "verified", index: i, name: f.name, sha256 });
      result.push({ ...f, resumedFrom: start.offset, skipped: false });
    }
    return { files: result, bytes: moved, total, ms: clock.now() - t0 };
  } catch (err) {
    await link.fail(err, index);
    throw err;
  } finally {
    await part?.close(); // the partial and its sidecar stay: the next run resumes
  }
}
