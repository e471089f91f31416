/**
 * The file-transfer messages (docs/transfer.md), one pipe message each. Pure:
 * encode() builds bytes, decode() checks every field of what a peer sent and
 * throws ProtocolError for anything out of shape or over a limit.
 *
 * Layout: one kind byte, then either a JSON body (control messages) or, for a
 * CHUNK, a u32 file index, a u64 offset and the raw bytes.
 */
import { ProtocolError } from "../errors.ts";

export const TRANSFER_VERSION = 1;

/** Hard limits on what a peer may offer; a receiver may set lower ones. */
export const TRANSFER_LIMITS = Object.freeze({
  /** Largest control message (OFFER, ANSWER…), bytes. */
  maxControlBytes: 256 * 1024,
  /** Most files in one offer. */
  maxFiles: 1000,
  /** Largest single file: 1 PiB (well inside Number.MAX_SAFE_INTEGER). */
  maxFileSize: 2 ** 50,
  /** Longest error text carried. */
  maxErrorText: 500,
});

/** What a receiver tells a sender went wrong (ERROR.code). */
export const ERROR_CODES = ["refused", "exists", "disk-full", "permission", "checksum", "protocol", "timeout", "aborted"] as const;
export type TransferErrorCode = (typeof ERROR_CODES)[number];

export interface FileOffer {
  name: string;
  size: number;
  /** SHA-256 of the whole file, lowercase hex. */
  sha256: string;
}

/** The receiver's answer for one file: how much it has, and the hash of that prefix. */
export interface FileAnswer {
  /** Bytes the receiver already holds (0 = send it all; size = it has the whole file, verified). */
  offset: number;
  /** SHA-256 of the first `offset` bytes of its partial (0 < offset ≤ size): the sender checks it. */
  prefix?: string;
  /** The receiver has the final file already, verified (then offset = size): nothing to send. */
  complete?: true;
}

export type TransferMessage =
  | { type: "offer"; files: FileOffer[] }
  | { type: "answer"; files: FileAnswer[] }
  | { type: "start"; index: number; offset: number }
  | { type: "chunk"; index: number; offset: number; data: Uint8Array }
  | { type: "verified"; index: number; sha256: string }
  | { type: "error"; code: TransferErrorCode; message: string; index?: number };

const KIND = { offer: 1, answer: 2, start: 3, chunk: 4, verified: 5, error: 6 } as const;
const KIND_NAME = new Map<number, TransferMessage["type"]>(Object.entries(KIND).map(([k, v]) => [v, k as TransferMessage["type"]]));
const CHUNK_HEADER = 1 + 4 + 8;
/** Bytes a CHUNK adds to its data. */
export const CHUNK_OVERHEAD = CHUNK_HEADER;

const HEX64 = /^[0-9a-f]{64}$/;

export function encode(msg: TransferMessage): Uint8Array {
  if (msg.type === "chunk") {
    const out = Buffer.allocUnsafe(CHUNK_HEADER + msg.data.length);
    out[0] = KIND.chunk;
    out.writeUInt32BE(msg.index, 1);
    out.writeBigUInt64BE(BigInt(msg.offset), 5);
    out.set(msg.data, CHUNK_HEADER);
    return out;
  }
  const { type, ...body } = msg;
  const json = Buffer.from(JSON.stringify({ v: TRANSFER_VERSION, ...body }), "utf8");
  const out = Buffer.allocUnsafe(1 + json.length);
  out[0] = KIND[type];
  out.set(json, 1);
  return out;
}

const bad = (what: string): never => {
  throw new ProtocolError(`transfer: ${what}`);
};

function count(v: unknown, what: string, max: number): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) bad(`${what} must be a whole number from 0 to ${max}`);
  return v as number;
}

function hash(v: unknown, what: string): string {
  if (typeof v !== "string" || !HEX64.test(v)) bad(`${what} must be a SHA-256 in lowercase hex`);
  return v as string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function list(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) bad(`${what} must be a list`);
  const a = v as unknown[];
  if (a.length === 0 || a.length > max) bad(`${what} must hold 1 to ${max} entries (got ${a.length})`);
  return a;
}

function decodeBody(type: Exclude<TransferMessage["type"], "chunk">, o: Record<string, unknown>): TransferMessage {
  const L = TRANSFER_LIMITS;
  switch (type) {
    case "offer": {
      const files = list(o.files, "offer.files", L.maxFiles).map((f, i): FileOffer => {
        if (!isObject(f)) return bad(`offer.files[${i}] must be an object`);
        // The name is checked for safety by names.ts; here only its type and length.
        if (typeof f.name !== "string" || f.name.length === 0 || f.name.length > 1024) bad(`offer.files[${i}].name must be a non-empty string`);
        return { name: f.name as string, size: count(f.size, `offer.files[${i}].size`, L.maxFileSize), sha256: hash(f.sha256, `offer.files[${i}].sha256`) };
      });
      return { type, files };
    }
    case "answer": {
      const files = list(o.files, "answer.files", L.maxFiles).map((f, i): FileAnswer => {
        if (!isObject(f)) return bad(`answer.files[${i}] must be an object`);
        const offset = count(f.offset, `answer.files[${i}].offset`, L.maxFileSize);
        if (f.complete !== undefined && f.complete !== true) bad(`answer.files[${i}].complete must be true or absent`);
        if (f.complete && f.prefix !== undefined) bad(`answer.files[${i}] cannot be complete and partial`);
        if (f.complete) return { offset, complete: true };
        if (f.prefix === undefined) return { offset };
        return { offset, prefix: hash(f.prefix, `answer.files[${i}].prefix`) };
      });
      return { type, files };
    }
    case "start":
      return { type, index: count(o.index, "start.index", L.maxFiles - 1), offset: count(o.offset, "start.offset", L.maxFileSize) };
    case "verified":
      return { type, index: count(o.index, "verified.index", L.maxFiles - 1), sha256: hash(o.sha256, "verified.sha256") };
    case "error": {
      if (typeof o.code !== "string" || !(ERROR_CODES as readonly string[]).includes(o.code)) bad(`error.code must be one of ${ERROR_CODES.join(", ")}`);
      if (typeof o.message !== "string") bad("error.message must be a string");
      // Shown to a user: cut, and no control characters (no terminal escapes from a peer).
      const message = (o.message as string).slice(0, L.maxErrorText).replace(/[\u0000-\u001f\u007f-\u009f]/g, "?");
      const index = o.index === undefined ? undefined : count(o.index, "error.index", L.maxFiles - 1);
      return { type, code: o.code as TransferErrorCode, message, ...(index === undefined ? {} : { index }) };
    }
  }
}

export function decode(bytes: Uint8Array): TransferMessage {
  if (bytes.length === 0) bad("empty message");
  const type = KIND_NAME.get(bytes[0]!);
  if (!type) return bad(`unknown message kind ${bytes[0]}`);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === "chunk") {
    if (buf.length <= CHUNK_HEADER) bad("chunk without data");
    const index = buf.readUInt32BE(1);
    const offset = buf.readBigUInt64BE(5);
    if (index >= TRANSFER_LIMITS.maxFiles) bad(`chunk.index ${index} is over ${TRANSFER_LIMITS.maxFiles - 1}`);
    if (offset > BigInt(TRANSFER_LIMITS.maxFileSize)) bad("chunk.offset is over the largest file size");
    return { type, index, offset: Number(offset), data: buf.subarray(CHUNK_HEADER) };
  }
  if (buf.length - 1 > TRANSFER_LIMITS.maxControlBytes) bad(`${type} is ${buf.length - 1} bytes, over ${TRANSFER_LIMITS.maxControlBytes}`);
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(buf.subarray(1)));
  } catch {
    return bad(`${type} is not UTF-8 JSON`);
  }
  if (!isObject(o)) return bad(`${type} must be a JSON object`);
  if (o.v !== TRANSFER_VERSION) bad(`${type} has version ${JSON.stringify(o.v)}; this p2pnode speaks version ${TRANSFER_VERSION}`);
  return decodeBody(type, o);
}
