/**
 * The signaling envelope: every signaling message is signed by its sender's
 * Ed25519 identity and encrypted to its recipient's id, from the first message
 * on. Byte layout and construction: docs/signaling.md §Envelope.
 *
 * Pure (no I/O): the clock value, the replay cache and the logger are passed in.
 * `open()` never throws on input: it returns a typed rejection reason.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from "node:crypto";
import { type Identity, type NodeId, idFromPublicKey, publicKeyFromId, verifySignature, x25519KeyFromId } from "../identity/identity.ts";
import { InvalidArgumentError } from "../errors.ts";
import { type Logger, silentLogger } from "../util/logger.ts";
import type { ReplayCache, ReplayVerdict } from "./replay-cache.ts";

export const ENVELOPE_VERSION = 1;
const HKDF_INFO = Buffer.from("p2pnode/signaling/v1 envelope key", "ascii");
const SIG_DOMAIN = Buffer.from("p2pnode/signaling/v1 signature\0", "ascii");

const EPH_LEN = 32;
const TAG_LEN = 16;
const SIG_LEN = 64;
const HEADER_LEN = 1 + EPH_LEN;
/** Fixed part of the plaintext before the type: sender, recipient, timestamp, nonce, id, type length. */
const FIXED_LEN = 32 + 32 + 8 + 16 + 16 + 1;
const MIN_PLAINTEXT = FIXED_LEN + 1 + 1 + 4 + SIG_LEN;
export const MIN_ENVELOPE_BYTES = HEADER_LEN + MIN_PLAINTEXT + TAG_LEN;
const TYPE_RE = /^[a-z0-9][a-z0-9.-]{0,63}$/;

export const BODY_JSON = 0;
export const BODY_BINARY = 1;

/** Why `open()` rejected an envelope; each has its own meaning (docs/signaling.md). */
export type RejectReason =
  | "too-large"
  | "bad-version"
  | "malformed"
  | "decrypt-failed"
  | "not-for-us"
  | "bad-key"
  | "bad-signature"
  | "expired"
  | "future"
  | "replayed"
  | "replay-cache-full";

/** A decoded, authenticated signaling message. */
export interface SignalMessage {
  from: NodeId;
  to: NodeId;
  /** Sender's clock, ms since the epoch. */
  timestamp: number;
  /** 16 random bytes, hex; the replay-cache key together with `from`. */
  nonce: string;
  /** 16 bytes, hex; stays the same when a request is re-sent. */
  id: string;
  type: string;
  /** A JSON value, or a Uint8Array for a binary body. */
  body: unknown;
}

export type OpenResult =
  | { ok: true; message: SignalMessage }
  /** `message` is set for "replayed": the copy was authentic, the caller may re-acknowledge it. */
  | { ok: false; reason: RejectReason; detail: string; message?: SignalMessage };

export interface EnvelopeOptions {
  /** Largest envelope accepted, in bytes; checked before any crypto. @default 65536 */
  maxBytes?: number;
  /** How old (sender's timestamp vs our clock) a message may be, ms. @default 30000 */
  maxAgeMs?: number;
  /** How far in the future a message may be dated, ms. @default 30000 */
  maxFutureMs?: number;
}

// 30 s each way: requests are re-sealed every few seconds, so the window only has to
// cover clock skew and broker latency; a shorter one keeps the replay cache small.
export const ENVELOPE_DEFAULTS = Object.freeze({ maxBytes: 65_536, maxAgeMs: 30_000, maxFutureMs: 30_000 });

export interface SealInput {
  type: string;
  body: unknown;
  /** 16 bytes hex; random when omitted. */
  id?: string;
  timestamp: number;
  /** 16 bytes; random when omitted (tests only pass it). */
  nonce?: Uint8Array;
}

// ---------------------------------------------------------------- plaintext codec

/** The fields inside the encryption, signature excluded. */
export interface PlainFields {
  from: Uint8Array;
  to: Uint8Array;
  timestamp: number;
  nonce: Uint8Array;
  id: Uint8Array;
  type: string;
  bodyKind: number;
  body: Uint8Array;
}

/** Encodes the plaintext fields (without the signature). */
export function encodeFields(f: PlainFields): Uint8Array {
  const type = Buffer.from(f.type, "ascii");
  const out = Buffer.alloc(FIXED_LEN + type.length + 1 + 4 + f.body.length);
  let o = 0;
  out.set(f.from, o), (o += 32);
  out.set(f.to, o), (o += 32);
  out.writeBigUInt64BE(BigInt(f.timestamp), o), (o += 8);
  out.set(f.nonce, o), (o += 16);
  out.set(f.id, o), (o += 16);
  out[o++] = type.length;
  out.set(type, o), (o += type.length);
  out[o++] = f.bodyKind;
  out.writeUInt32BE(f.body.length, o), (o += 4);
  out.set(f.body, o);
  return out;
}

/** Decodes plaintext = fields ‖ signature; null if the layout is not exact. */
export function decodePlaintext(pt: Uint8Array): { fields: PlainFields; signed: Uint8Array; signature: Uint8Array } | null {
  if (pt.length < MIN_PLAINTEXT) return null;
  const b = Buffer.from(pt.buffer, pt.byteOffset, pt.byteLength);
  let o = 0;
  const from = b.subarray(o, (o += 32));
  const to = b.subarray(o, (o += 32));
  const ts = b.readBigUInt64BE(o);
  o += 8;
  if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  const nonce = b.subarray(o, (o += 16));
  const id = b.subarray(o, (o += 16));
  const typeLen = b[o++];
  if (typeLen === 0 || o + typeLen + 5 + SIG_LEN > b.length) return null;
  const type = b.subarray(o, (o += typeLen)).toString("latin1");
  if (!TYPE_RE.test(type)) return null;
  const bodyKind = b[o++];
  if (bodyKind !== BODY_JSON && bodyKind !== BODY_BINARY) return null;
  const bodyLen = b.readUInt32BE(o);
  o += 4;
  if (o + bodyLen + SIG_LEN !== b.length) return null;
  const body = b.subarray(o, (o += bodyLen));
  return {
    fields: { from, to, timestamp: Number(ts), nonce, id, type, bodyKind, body },
    signed: b.subarray(0, o),
    signature: b.subarray(o),
  };
}

/** The digest the sender signs: domain ‖ version ‖ ephemeral pub ‖ encoded fields. */
export function signatureDigest(version: number, ephPub: Uint8Array, signedFields: Uint8Array): Uint8Array {
  return createHash("sha256").update(SIG_DOMAIN).update(Uint8Array.of(version)).update(ephPub).update(signedFields).digest();
}

// ---------------------------------------------------------------- encryption layer

function rawX25519Pub(key: KeyObject): Buffer {
  const der = key.export({ format: "der", type: "spki" });
  return der.subarray(der.length - 32);
}

function deriveKey(shared: Buffer, version: number, ephPub: Uint8Array, recipient: Uint8Array): { key: Buffer; iv: Buffer } {
  const info = Buffer.concat([HKDF_INFO, Uint8Array.of(version), ephPub, recipient]);
  const okm = Buffer.from(hkdfSync("sha256", shared, Buffer.alloc(0), info, 44));
  return { key: okm.subarray(0, 32), iv: okm.subarray(32, 44) };
}

/**
 * Encrypts `makePlaintext(ephPub)` to `recipient`: a fresh ephemeral X25519 key,
 * ECDH with the recipient's key, HKDF-SHA256, ChaCha20-Poly1305 with the header as AAD.
 * The plaintext is built by a callback because the signature inside covers the ephemeral key.
 */
export function encryptTo(recipient: NodeId, makePlaintext: (ephPub: Uint8Array) => Uint8Array, version = ENVELOPE_VERSION): Uint8Array {
  const eph = generateKeyPairSync("x25519");
  const ephPub = rawX25519Pub(eph.publicKey);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: x25519KeyFromId(recipient) });
  const { key, iv } = deriveKey(shared, version, ephPub, publicKeyFromId(recipient));
  const header = Buffer.concat([Uint8Array.of(version), ephPub]);
  const cipher = createCipheriv("chacha20-poly1305", key, iv, { authTagLength: TAG_LEN });
  cipher.setAAD(header, { plaintextLength: 0 });
  const pt = makePlaintext(ephPub);
  const ct = Buffer.concat([cipher.update(pt), cipher.final(), cipher.getAuthTag()]);
  return new Uint8Array(Buffer.concat([header, ct]));
}

/** Decrypts an envelope addressed to `identity`; null when it does not authenticate. */
export function decryptFor(identity: Identity, bytes: Uint8Array): { ephPub: Uint8Array; plaintext: Uint8Array } | null {
  try {
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = b[0];
    const ephPub = b.subarray(1, HEADER_LEN);
    const ct = b.subarray(HEADER_LEN, b.length - TAG_LEN);
    const tag = b.subarray(b.length - TAG_LEN);
    const ephKey = createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(ephPub).toString("base64url") }, format: "jwk" });
    // Throws for a low-order ephemeral key (all-zero shared secret).
    const shared = diffieHellman({ privateKey: identity.x25519PrivateKey(), publicKey: ephKey });
    const { key, iv } = deriveKey(shared, version, ephPub, identity.publicKey);
    const d = createDecipheriv("chacha20-poly1305", key, iv, { authTagLength: TAG_LEN });
    d.setAAD(b.subarray(0, HEADER_LEN), { plaintextLength: ct.length });
    d.setAuthTag(tag);
    const pt = Buffer.concat([d.update(ct), d.final()]);
    return { ephPub, plaintext: pt };
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- seal / open

function encodeBody(body: unknown): { kind: number; bytes: Uint8Array } {
  if (body instanceof Uint8Array) return { kind: BODY_BINARY, bytes: body };
  const json = JSON.stringify(body === undefined ? null : body);
  return { kind: BODY_JSON, bytes: Buffer.from(json, "utf8") };
}

export function newMessageId(): string {
  return randomBytes(16).toString("hex");
}

/** Signs and encrypts one message from `identity` to `to`. Throws InvalidArgumentError on a bad type/id/recipient. */
export function seal(identity: Identity, to: NodeId, input: SealInput): Uint8Array {
  if (!TYPE_RE.test(input.type)) throw new InvalidArgumentError(`signaling type must match ${TYPE_RE}: ${JSON.stringify(input.type)}`);
  const id = input.id ?? newMessageId();
  if (!/^[0-9a-f]{32}$/.test(id)) throw new InvalidArgumentError("a signaling message id is 16 bytes in lowercase hex");
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) throw new InvalidArgumentError("timestamp must be a non-negative integer (ms)");
  const toRaw = publicKeyFromId(to);
  const body = encodeBody(input.body);
  const fields = encodeFields({
    from: identity.publicKey,
    to: toRaw,
    timestamp: input.timestamp,
    nonce: input.nonce ?? randomBytes(16),
    id: Buffer.from(id, "hex"),
    type: input.type,
    bodyKind: body.kind,
    body: body.bytes,
  });
  return encryptTo(to, (ephPub) => {
    const sig = identity.sign(signatureDigest(ENVELOPE_VERSION, ephPub, fields));
    return Buffer.concat([fields, sig]);
  });
}

export interface OpenContext extends EnvelopeOptions {
  /** Our clock, ms since the epoch. */
  now: number;
  /** Shared across calls; a fresh one per call makes replays undetectable. */
  replay: ReplayCache;
  /**
   * Messages dated before this (ms) are refused as expired: the replay cache
   * lives in memory, so a node cannot tell what it accepted before it started.
   */
  notBefore?: number;
  /**
   * false: check the replay cache but do not record the message; the caller
   * records it with `recordOpened()` once it decided to act on it, so messages
   * it refuses (unknown senders, unmatched replies) cannot fill the cache.
   * @default true
   */
  record?: boolean;
  logger?: Logger;
}

function reject(ctx: OpenContext, reason: RejectReason, detail: string, message?: SignalMessage): OpenResult {
  (ctx.logger ?? silentLogger).debug(`signaling envelope rejected: ${reason}`, { reason, detail, from: message?.from });
  return message ? { ok: false, reason, detail, message } : { ok: false, reason, detail };
}

/** Decrypts, verifies and checks one envelope addressed to `identity`. Never throws. */
export function open(identity: Identity, bytes: Uint8Array, ctx: OpenContext): OpenResult {
  const maxBytes = ctx.maxBytes ?? ENVELOPE_DEFAULTS.maxBytes;
  const maxAge = ctx.maxAgeMs ?? ENVELOPE_DEFAULTS.maxAgeMs;
  const maxFuture = ctx.maxFutureMs ?? ENVELOPE_DEFAULTS.maxFutureMs;
  if (!(bytes instanceof Uint8Array)) return reject(ctx, "malformed", "not bytes");
  if (bytes.length > maxBytes) return reject(ctx, "too-large", `${bytes.length} > ${maxBytes} bytes`);
  if (bytes.length === 0 || bytes[0] !== ENVELOPE_VERSION) return reject(ctx, "bad-version", `version ${bytes[0] ?? "none"}`);
  if (bytes.length < MIN_ENVELOPE_BYTES) return reject(ctx, "malformed", `${bytes.length} < ${MIN_ENVELOPE_BYTES} bytes`);
  const dec = decryptFor(identity, bytes);
  if (!dec) return reject(ctx, "decrypt-failed", "does not authenticate under our key");
  const parsed = decodePlaintext(dec.plaintext);
  if (!parsed) return reject(ctx, "malformed", "plaintext layout");
  const f = parsed.fields;
  if (!Buffer.from(f.to).equals(Buffer.from(identity.publicKey))) return reject(ctx, "not-for-us", "signed for another recipient");
  let from: NodeId;
  try {
    from = idFromPublicKey(f.from);
  } catch {
    // A small-order or non-canonical key: with it, R = A, S = 0 "verifies" for any message.
    return reject(ctx, "bad-key", "the sender key is not a valid Ed25519 public key");
  }
  if (!verifySignature(f.from, signatureDigest(bytes[0], dec.ephPub, parsed.signed), parsed.signature)) {
    return reject(ctx, "bad-signature", "signature does not verify");
  }
  let body: unknown;
  if (f.bodyKind === BODY_BINARY) body = new Uint8Array(f.body);
  else {
    try {
      body = JSON.parse(Buffer.from(f.body).toString("utf8"));
    } catch {
      return reject(ctx, "malformed", "body is not JSON");
    }
  }
  const message: SignalMessage = {
    from,
    to: identity.id,
    timestamp: f.timestamp,
    nonce: Buffer.from(f.nonce).toString("hex"),
    id: Buffer.from(f.id).toString("hex"),
    type: f.type,
    body,
  };
  if (f.timestamp < ctx.now - maxAge) return reject(ctx, "expired", `${ctx.now - f.timestamp} ms old`);
  if (ctx.notBefore !== undefined && f.timestamp < ctx.notBefore) return reject(ctx, "expired", "dated before this node started");
  if (f.timestamp > ctx.now + maxFuture) return reject(ctx, "future", `${f.timestamp - ctx.now} ms ahead`);
  if (ctx.record === false) {
    if (ctx.replay.has(replayKey(message), ctx.now)) return reject(ctx, "replayed", "nonce already seen", message);
    return { ok: true, message };
  }
  const verdict = recordOpened(ctx.replay, message, ctx);
  if (verdict === "duplicate") return reject(ctx, "replayed", "nonce already seen", message);
  if (verdict === "full") return reject(ctx, "replay-cache-full", `${ctx.replay.capacity} live entries`);
  return { ok: true, message };
}

/**
 * The `notBefore` a node passes to open() after it starts at `startedAt`.
 * The replay cache is in memory: after a restart it cannot know what the last
 * run accepted. Refusing everything dated before the start refused honest
 * peers whose clocks are behind ours (their fresh messages look older than our
 * start), so the line is drawn maxFutureMs earlier: we already accept a clock
 * up to maxFutureMs ahead, and now one up to as much behind, from the start.
 *
 * What this leaves: a message dated within maxFutureMs before our start that
 * the last run accepted can be replayed to us once (then it is in the cache),
 * until it expires maxAgeMs after its date, i.e. at most min(maxAgeMs,
 * maxFutureMs) after our start. The same window already existed for senders
 * ahead of us. It is safe because such a replay is an authentic request its
 * sender made moments ago: acks and replies match no request of the new run
 * (request ids are random), and a handler re-runs within its own limits (dial
 * policy, rate limits), towards the requester's own signed endpoints.
 * Anything dated earlier is refused; with maxFutureMs = maxAgeMs (the
 * defaults) the age check alone refuses exactly that.
 */
export function notBeforeAfterStart(startedAt: number, env: { maxFutureMs?: number } = {}): number {
  return startedAt - (env.maxFutureMs ?? ENVELOPE_DEFAULTS.maxFutureMs);
}

function replayKey(m: SignalMessage): string {
  return `${m.from}:${m.nonce}`;
}

/**
 * Records an opened message in a replay cache until it would expire anyway
 * ("duplicate" if it is already there). `limit`: the cache size this message
 * may fill up to (its sender's share; default the whole cache).
 */
export function recordOpened(cache: ReplayCache, m: SignalMessage, ctx: { now: number; maxAgeMs?: number; limit?: number }): ReplayVerdict {
  return cache.add(replayKey(m), m.timestamp + (ctx.maxAgeMs ?? ENVELOPE_DEFAULTS.maxAgeMs) + 1, ctx.now, ctx.limit);
}
