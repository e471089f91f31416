/**
 * The receiver's files: the output directory, the partial file with its
 * sidecar, hashing, and errors from the filesystem as typed errors. Every
 * path is one safe name (names.ts) joined to the real output directory, and
 * every open refuses to follow a symlink, so nothing lands outside --out.
 */
import { createHash, type Hash } from "node:crypto";
import { constants } from "node:fs";
import { access, link, lstat, open, readFile, realpath, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { DiskFullError, InvalidArgumentError, P2PError, PermissionDeniedError, RefusedError } from "../errors.ts";
import { PART_SUFFIX } from "./names.ts";
import type { DiskFacts, Expected } from "./resume.ts";

const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const SIDECAR_MAX = 4096;

/** A filesystem error as a typed error that says what to do next. */
export function fsError(err: unknown, what: string): P2PError {
  if (err instanceof P2PError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? "";
  if (code === "ENOSPC" || code === "EDQUOT") return new DiskFullError(`${what}: no space left on the device (${code}); free some space and run again, the transfer resumes`, { cause: err });
  if (code === "EACCES" || code === "EPERM" || code === "EROFS") return new PermissionDeniedError(`${what}: permission denied (${code}); fix the permissions or choose another directory`, { cause: err });
  if (code === "ELOOP") return new RefusedError(`${what}: is a symbolic link, refused (nothing is written through links)`, { cause: err });
  if (code === "ENOENT" || code === "ENOTDIR" || code === "EISDIR") return new InvalidArgumentError(`${what}: ${code === "ENOENT" ? "no such file or directory" : code}`, { cause: err });
  return new InvalidArgumentError(`${what}: ${code || (err as Error)?.message}`, { cause: err });
}

/** The real path of a writable output directory, or a typed error. */
export async function outDir(dir: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(dir);
    if (!(await stat(real)).isDirectory()) throw new InvalidArgumentError(`${dir} is not a directory`);
    await access(real, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fsError(err, `cannot write into ${dir}`);
  }
  return real;
}

/** SHA-256 state over the first `limit` bytes of a file (all of it by default), read in bounded chunks. */
export async function hashFile(path: string, limit = Infinity, signal?: AbortSignal): Promise<Hash> {
  const h = createHash("sha256");
  if (limit === 0) return h;
  const end = Number.isFinite(limit) ? limit - 1 : undefined;
  const fh = await open(path, constants.O_RDONLY | NOFOLLOW);
  try {
    for await (const chunk of fh.createReadStream({ start: 0, end, highWaterMark: 1 << 20, signal, autoClose: false })) h.update(chunk as Buffer);
  } finally {
    await fh.close();
  }
  return h;
}

const paths = (dir: string, name: string) => ({ final: join(dir, name), part: join(dir, name + PART_SUFFIX), sidecar: join(dir, name + PART_SUFFIX + ".json") });

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function readSidecar(path: string): Promise<Expected | undefined> {
  const st = await lstatOrUndefined(path);
  if (!st?.isFile() || st.size > SIDECAR_MAX) return undefined;
  try {
    const o = JSON.parse(await readFile(path, { encoding: "utf8", flag: constants.O_RDONLY | NOFOLLOW })) as Record<string, unknown>;
    if (typeof o.size === "number" && Number.isSafeInteger(o.size) && typeof o.sha256 === "string" && /^[0-9a-f]{64}$/.test(o.sha256)) return { size: o.size, sha256: o.sha256 };
  } catch {
    // unreadable or not ours: treated as missing (the partial starts over)
  }
  return undefined;
}

/** What the output directory holds for one name (the final file is hashed only when its size matches). */
export async function inspect(dir: string, name: string, expected: Expected, signal?: AbortSignal): Promise<DiskFacts> {
  const p = paths(dir, name);
  try {
    const [f, part, sidecar] = await Promise.all([lstatOrUndefined(p.final), lstatOrUndefined(p.part), readSidecar(p.sidecar)]);
    const facts: DiskFacts = { sidecar };
    if (f) facts.final = { size: f.size, regular: f.isFile(), sha256: f.isFile() && f.size === expected.size ? (await hashFile(p.final, Infinity, signal)).digest("hex") : undefined };
    if (part) facts.part = { size: part.size, regular: part.isFile() };
    return facts;
  } catch (err) {
    throw fsError(err, `cannot read ${name} in the output directory`);
  }
}

/**
 * A partial file being written: the sidecar (what it will become) is written
 * first, then data at known offsets; finish() moves it to its name only after
 * the caller checked the hash.
 */
export class PartFile {
  readonly #fh: FileHandle;
  readonly #p: ReturnType<typeof paths>;
  readonly name: string;
  #closed = false;

  private constructor(fh: FileHandle, p: ReturnType<typeof paths>, name: string) {
    this.#fh = fh;
    this.#p = p;
    this.name = name;
  }

  /** Opens (or creates) the partial, cut to `offset` bytes, with its sidecar. */
  static async open(dir: string, name: string, expected: Expected, offset: number): Promise<PartFile> {
    const p = paths(dir, name);
    let fh: FileHandle | undefined;
    try {
      const side = await open(p.sidecar, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | NOFOLLOW, 0o600);
      try {
        await side.writeFile(JSON.stringify({ v: 1, size: expected.size, sha256: expected.sha256 }));
      } finally {
        await side.close();
      }
      fh = await open(p.part, constants.O_WRONLY | constants.O_CREAT | NOFOLLOW, 0o600);
      if (!(await fh.stat()).isFile()) throw new RefusedError(`${name}${PART_SUFFIX} is not a regular file`);
      await fh.truncate(offset);
      return new PartFile(fh, p, name);
    } catch (err) {
      await fh?.close().catch(() => {});
      throw fsError(err, `cannot write ${name} in the output directory`);
    }
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    try {
      let done = 0;
      while (done < data.length) done += (await this.#fh.write(data, done, data.length - done, position + done)).bytesWritten;
    } catch (err) {
      throw fsError(err, `cannot write ${this.name}`);
    }
  }

  /** Flushes, then gives the file its name (refusing to replace anything that appeared meanwhile). */
  async finish(): Promise<void> {
    try {
      await this.#fh.sync();
      await this.close();
      try {
        await link(this.#p.part, this.#p.final); // fails if the name exists: never replaces a file or a link
        await unlink(this.#p.part);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") throw new RefusedError(`${this.name} appeared in the output directory during the transfer; the received copy is kept as ${this.name}${PART_SUFFIX}`);
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EXDEV" && code !== "EOPNOTSUPP") throw err;
        if (await lstatOrUndefined(this.#p.final)) throw new RefusedError(`${this.name} appeared in the output directory during the transfer`);
        await rename(this.#p.part, this.#p.final); // filesystems without hard links
      }
      await unlink(this.#p.sidecar).catch(() => {});
    } catch (err) {
      throw fsError(err, `cannot save ${this.name}`);
    }
  }

  /** Closes and deletes the partial and its sidecar (a checksum mismatch: its bytes are wrong). */
  async discard(): Promise<void> {
    await this.close();
    await Promise.all([unlink(this.#p.part).catch(() => {}), unlink(this.#p.sidecar).catch(() => {})]);
  }

  /** Closes, keeping the partial for a later resume. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#fh.close().catch(() => {});
  }
}
