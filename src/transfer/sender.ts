/**
 * The sending side of a file transfer over a Pipe (docs/transfer.md): hash
 * each file, offer, resume where the receiver's verified prefix ends, stream
 * chunks one awaited send at a time (the pipe's backpressure bounds memory),
 * then wait for the receiver's SHA-256 check of every file.
 */
import { open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { ChecksumError, InvalidArgumentError, ProtocolError } from "../errors.ts";
import { systemClock } from "../util/clock.ts";
import { deadline, raceSignal } from "../util/deadline.ts";
import { CHUNK_OVERHEAD, TRANSFER_LIMITS, type FileAnswer, type FileOffer } from "./codec.ts";
import { fsError, hashFile } from "./disk.ts";
import { Link, type TransferPipe } from "./link.ts";
import { nameKey, unsafeName } from "./names.ts";
import type { TransferOptions, TransferResult, TransferredFile } from "./types.ts";

/** Largest chunk of file data per message (smaller when the pipe's maximum is). */
export const CHUNK_SIZE = 256 * 1024;

/** Options of sendFiles(). */
/** sendFiles() options. */
export interface SendOptions extends TransferOptions {
  /** Bytes of file data per message. @default 256 KiB */
  chunkSize?: number;
}

/** A file ready to send: its path, the name the receiver gets, its size and SHA-256. */
export interface LocalFile extends FileOffer {
  path: string;
}
type Local = LocalFile;

/** Checks and hashes the files to send (one bounded read each); pass the result to sendFiles() to hash only once. */
export async function describeFiles(paths: readonly string[], signal?: AbortSignal): Promise<Local[]> {
  if (!paths.length) throw new InvalidArgumentError("no files to send");
  if (paths.length > TRANSFER_LIMITS.maxFiles) throw new InvalidArgumentError(`at most ${TRANSFER_LIMITS.maxFiles} files per transfer (got ${paths.length})`);
  const seen = new Map<string, string>();
  const out: Local[] = [];
  for (const path of paths) {
    const name = basename(path);
    const why = unsafeName(name);
    if (why) throw new InvalidArgumentError(`cannot send ${path}: its name ${why}; rename it first`);
    const other = seen.get(nameKey(name));
    if (other) throw new InvalidArgumentError(`${other} and ${path} have the same name (${name}): the receiver keeps one directory; rename one`);
    seen.set(nameKey(name), path);
    let size: number;
    try {
      const st = await stat(path);
      if (!st.isFile()) throw new InvalidArgumentError(`${path} is not a regular file (directories are not sent; give the files)`);
      size = st.size;
    } catch (err) {
      throw fsError(err, `cannot read ${path}`);
    }
    if (size > TRANSFER_LIMITS.maxFileSize) throw new InvalidArgumentError(`${path} is over the ${TRANSFER_LIMITS.maxFileSize}-byte limit`);
    let sha256: string;
    try {
      sha256 = (await hashFile(path, Infinity, signal)).digest("hex");
    } catch (err) {
      throw fsError(err, `cannot read ${path}`);
    }
    out.push({ path, name, size, sha256 });
  }
  return out;
}

/** Where to start a file, from the receiver's answer: its verified prefix, or 0 when the prefix differs. */
async function startOffset(f: Local, a: FileAnswer, signal?: AbortSignal): Promise<number | "skip"> {
  if (a.offset > f.size) throw new ProtocolError(`the receiver claims ${a.offset} bytes of ${f.name}, which has ${f.size}`);
  if (a.complete) {
    if (a.offset !== f.size) throw new ProtocolError(`the receiver says it has ${f.name} complete with ${a.offset} of its ${f.size} bytes`);
    return "skip";
  }
  if (a.prefix === undefined) {
    if (a.offset !== 0) throw new ProtocolError(`the receiver resumes ${f.name} at ${a.offset} without the hash of what it holds`);
    return 0;
  }
  if (a.offset === 0) return 0;
  const mine = (await hashFile(f.path, a.offset, signal)).digest("hex");
  return mine === a.prefix ? a.offset : 0;
}

/**
 * Sends `paths` (or describeFiles() of them) to the peer at the other end of `pipe` (which runs
 * receiveFiles). Resolves when the receiver verified every file; rejects with a
 * typed error (PipeClosedError: the peer went away; DiskFullError,
 * PermissionDeniedError, ChecksumError, RefusedError from the receiver;
 * TimeoutError). The pipe is left open: the caller closes it.
 */
export async function sendFiles(pipe: TransferPipe, paths: readonly string[] | readonly LocalFile[], o: SendOptions = {}): Promise<TransferResult> {
  const clock = o.clock ?? systemClock;
  const t0 = clock.now();
  const emit = o.onEvent ?? (() => {});
  // Paths are checked and hashed here; files from describeFiles() were already.
  const files = paths.length && paths.every((p): p is LocalFile => typeof p !== "string") ? [...paths] : await describeFiles(paths as string[], o.signal);
  const link = new Link(pipe, { timeout: o.timeout ?? 60_000, signal: o.signal, timers: o.timers, peer: "the receiver" });
  const stop = new AbortController(); // the watcher's failure stops the sending loop, and the end of sendFiles the watcher
  const total = files.reduce((n, f) => n + f.size, 0);
  let watcher: Promise<void> | undefined;
  try {
    const offer = files.map(({ name, size, sha256 }) => ({ name, size, sha256 }));
    await link.send({ type: "offer", files: offer });
    emit({ event: "offer", files: offer });
    const answer = await link.recv(["answer"]);
    if (answer.files.length !== files.length) throw new ProtocolError(`the receiver answered for ${answer.files.length} files; ${files.length} were offered`);

    const starts: Array<number | "skip"> = [];
    for (let i = 0; i < files.length; i++) starts.push(await startOffset(files[i]!, answer.files[i]!, o.signal));
    const pending = new Set(starts.flatMap((s, i) => (s === "skip" ? [] : [i])));
    const verified = new Set<number>();
    let failure: unknown;
    watcher = (async () => {
      while (pending.size) {
        const m = await link.recv(["verified"], { timeout: Infinity, signal: stop.signal });
        if (!pending.has(m.index)) throw new ProtocolError(`the receiver verified file ${m.index}, which it was not sent`);
        if (m.sha256 !== files[m.index]!.sha256) throw new ChecksumError(`the receiver saved ${files[m.index]!.name} with SHA-256 ${m.sha256}; ours is ${files[m.index]!.sha256}`);
        pending.delete(m.index);
        verified.add(m.index);
        emit({ event: "verified", index: m.index, name: files[m.index]!.name, sha256: m.sha256 });
      }
    })();
    watcher.catch((err) => {
      failure ??= err;
      stop.abort(err);
    });

    const chunk = Math.max(1, Math.min(o.chunkSize ?? CHUNK_SIZE, link.maxSendSize - CHUNK_OVERHEAD));
    let done = 0;
    let moved = 0;
    const result: TransferredFile[] = [];
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const start = starts[i]!;
      if (start === "skip") {
        done += f.size;
        emit({ event: "skip", index: i, name: f.name, size: f.size });
        result.push({ name: f.name, size: f.size, sha256: f.sha256, resumedFrom: f.size, skipped: true });
        continue;
      }
      await link.send({ type: "start", index: i, offset: start }, stop.signal);
      emit({ event: "file", index: i, name: f.name, size: f.size, offset: start });
      done += start;
      moved += await sendBody(link, f, i, start, chunk, stop.signal, (bytes, n) => {
        done += n;
        emit({ event: "progress", index: i, name: f.name, bytes, size: f.size, done, total });
      });
      result.push({ name: f.name, size: f.size, sha256: f.sha256, resumedFrom: start, skipped: false });
    }
    // Every byte is out: wait (bounded) for the receiver's check of each file.
    const d = deadline({ timeout: o.timeout ?? 60_000, signals: [o.signal], what: "waiting for the receiver's checksum", timers: o.timers });
    try {
      await raceSignal(watcher, d.signal);
    } finally {
      d.done();
    }
    return { files: result, bytes: moved, total, ms: clock.now() - t0 };
  } catch (err) {
    // The watcher's error (the receiver's ERROR, its checksum) explains an aborted send better.
    const e = stop.signal.aborted ? stop.signal.reason : err;
    await link.fail(e);
    throw e;
  } finally {
    stop.abort();
    watcher?.catch(() => {});
  }
}

/** Streams one file from `start`, one chunk read and one awaited send at a time. Returns the bytes sent. */
async function sendBody(link: Link, f: Local, index: number, start: number, chunk: number, signal: AbortSignal, progress: (bytes: number, n: number) => void): Promise<number> {
  let fh;
  try {
    fh = await open(f.path, "r");
  } catch (err) {
    throw fsError(err, `cannot read ${f.path}`);
  }
  try {
    let pos = start;
    while (pos < f.size) {
      signal.throwIfAborted();
      const n = Math.min(chunk, f.size - pos);
      const buf = Buffer.allocUnsafe(n); // a new buffer each time: a resumable pipe holds sent data until acknowledged
      let got = 0;
      while (got < n) {
        const r = await fh.read(buf, got, n - got, pos + got);
        if (r.bytesRead === 0) throw new ChecksumError(`${f.path} shrank while it was sent (${pos + got} of ${f.size} bytes); send it again once it stops changing`);
        got += r.bytesRead;
      }
      await link.send({ type: "chunk", index, offset: pos, data: buf }, signal);
      pos += n;
      progress(pos, n);
    }
    return pos - start;
  } catch (err) {
    throw signal.aborted && signal.reason ? signal.reason : err instanceof Error && "errno" in err ? fsError(err, `cannot read ${f.path}`) : err;
  } finally {
    await fh.close().catch(() => {});
  }
}
