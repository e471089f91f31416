/**
 * The pipe handshake (docs/protocol.md): an ephemeral X25519 exchange, each
 * side's Ed25519 signature over the transcript (SIGMA-I style, identities sent
 * encrypted), HKDF-SHA256 session keys bound to the whole transcript.
 *
 *   initiator                                    responder
 *   msg1 = ver, HELLO, e_i                 ->
 *                                          <-    msg2 = ver, REPLY, e_r, AEAD_kr(id_r, sig_r, params_r)
 *   msg3 = ver, FINISH, AEAD_ki(id_i, sig_i, params_i) ->
 *                                          <-    READY record (first sealed frame)
 *
 * Roles come from the strategy, not from who dialled TCP.
 */
import { createCipheriv, createDecipheriv, createHash, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from "node:crypto";
import type { Duplex } from "node:stream";
import { AbortError, FrameError, HandshakeError, InvalidArgumentError, PeerIdentityError, RefusedError, TimeoutError, WireError } from "../errors.ts";
import { FrameType, decodeFrame, encodeFrameHeader, RECORD_HEADER_LENGTH, TAG_LENGTH } from "./frame.ts";
import { idFromPublicKey, verifySignature, type Identity, type NodeId } from "../identity/identity.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";
import { Reader } from "./handshake-reader.ts";
import { SecureChannel } from "./secure-channel.ts";

export const PROTOCOL_VERSION = 1;
const PROLOGUE = Buffer.from("p2pnode/1 handshake");
const MAX_PARAMS = 1024;
const ZERO_NONCE = Buffer.alloc(12);
/**
 * Most bytes a responder holds past the handshake messages. A real initiator sends
 * nothing between FINISH and READY; without a cap a peer could stream megabytes while
 * an async accept() decides (each chunk re-copied onto the buffer).
 */
const MAX_EARLY_BYTES = 64 * 1024;
/**
 * See HandshakeOptions.firstMessageTimeout. The direct strategy's attempt timeout: an
 * initiator whose HELLO is later than this has given up itself, so the deadline never
 * drops a connection its dialler would still use (even when our own event loop lags).
 */
export const FIRST_MESSAGE_TIMEOUT = 5000;

enum Msg {
  HELLO = 1,
  REPLY = 2,
  FINISH = 3,
}

/** Which side of the handshake (and of the pipe it makes; PipeRole is this type). Roles come from the strategy. */
export type HandshakeRole = "initiator" | "responder";

/** What each side tells the other inside the encrypted part of the handshake. */
export interface HandshakeParams {
  /** Largest message this side accepts. */
  maxMessageSize: number;
  /** The strategy that set this session up, as the initiator saw it. */
  strategy?: string;
  /** A one-time token the strategy uses to match this session to a request (reverse connect). */
  token?: string;
  /** This side keeps sent messages until acknowledged, so the pipe can move to a new path (docs/protocol.md). */
  resumable?: boolean;
  /** This session is a new path for the pipe with this resume id (pipe.resumeId), not a new pipe. */
  resume?: string;
}

export interface HandshakeOptions {
  identity: Identity;
  role: HandshakeRole;
  params: HandshakeParams;
  /** If set, the peer must prove this identity or the handshake fails with PeerIdentityError. */
  expectedRemoteId?: NodeId;
  /** Responder only: consulted once the initiator is authenticated. */
  accept?: (remoteId: NodeId, params: HandshakeParams) => boolean | Promise<boolean>;
  timeout: number;
  /**
   * Responder only: the initiator's first message (HELLO) must arrive within this
   * many ms, or the handshake fails with TimeoutError. Separate from `timeout`: a
   * real initiator sends HELLO as soon as it connects, so a connection that sends
   * nothing holds a pending-handshake slot only briefly. Ignored when not shorter
   * than `timeout`. @default 5000
   */
  firstMessageTimeout?: number;
  /** Responder only: called once, when the initiator's first message has arrived (admission control). */
  onFirstMessage?: () => void;
  signal?: AbortSignal;
  /** Runs the handshake's deadlines (fake in tests). @default systemTimers */
  timers?: Timers;
}

export interface HandshakeResult {
  remoteId: NodeId;
  remoteParams: HandshakeParams;
  channel: SecureChannel;
  /** Bytes that arrived after the handshake: the start of the first records. */
  leftover: Buffer;
  /** The transcript hash both sides share: binds a later proof to exactly this session. */
  binding: Buffer;
  /** A key only the two peers of this session hold, for proving a new path belongs to it (resumption). */
  resumeKey: Buffer;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function hkdf(ikm: Uint8Array, salt: Uint8Array, info: string, len: number): Buffer {
  return Buffer.from(hkdfSync("sha256", ikm, salt, info, len));
}

function seal(key: Buffer, plain: Buffer, aad: Buffer): Buffer {
  const c = createCipheriv("aes-256-gcm", key, ZERO_NONCE, { authTagLength: TAG_LENGTH });
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

function open(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (sealed.length < TAG_LENGTH) throw new HandshakeError("handshake message too short");
  const d = createDecipheriv("aes-256-gcm", key, ZERO_NONCE, { authTagLength: TAG_LENGTH });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
  const out = d.update(sealed.subarray(0, sealed.length - TAG_LENGTH));
  try {
    d.final();
  } catch {
    throw new HandshakeError("handshake message failed authentication");
  }
  return out;
}

/*
 * Raw keys go in and out through JWK, not DER: OpenSSL 3's DER decoder and encoder
 * cost 130-250 µs a key here, the JWK path (raw bytes) 2-30 µs — most of a
 * handshake's key handling (bench/RESULTS.md).
 */
function rawX25519(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: "jwk" }).x!, "base64url");
}

function x25519FromRaw(raw: Buffer): KeyObject {
  try {
    if (raw.length !== 32) throw new HandshakeError(`an X25519 key is 32 bytes, not ${raw.length}`);
    return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: raw.toString("base64url") }, format: "jwk" });
  } catch (err) {
    throw new HandshakeError("peer sent an invalid ephemeral key", { cause: err });
  }
}

/** X25519 agreement; a low-order peer key makes OpenSSL throw a plain Error ("failed during derivation"). */
function agree(privateKey: KeyObject, remoteRaw: Buffer): Buffer {
  const publicKey = x25519FromRaw(remoteRaw);
  try {
    return diffieHellman({ privateKey, publicKey });
  } catch (err) {
    throw new HandshakeError("peer sent an invalid ephemeral key (low order)", { cause: err });
  }
}

function sigInput(role: HandshakeRole, transcript: Buffer, id: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`p2pnode/1 ${role} signature`), transcript, id]);
}

function encodePayload(identity: Identity, role: HandshakeRole, transcript: Buffer, params: HandshakeParams): Buffer {
  const sig = identity.sign(sigInput(role, transcript, identity.publicKey));
  return Buffer.concat([identity.publicKey, sig, Buffer.from(JSON.stringify(params))]);
}

function decodePayload(role: HandshakeRole, transcript: Buffer, payload: Buffer): { id: NodeId; params: HandshakeParams } {
  if (payload.length < 96 || payload.length > 96 + MAX_PARAMS) throw new HandshakeError("handshake identity payload has a bad length");
  const pub = payload.subarray(0, 32);
  const sig = payload.subarray(32, 96);
  if (!verifySignature(pub, sigInput(role, transcript, pub), sig)) {
    throw new HandshakeError(`the ${role}'s signature over the handshake does not verify`);
  }
  let params: unknown;
  try {
    params = JSON.parse(payload.subarray(96).toString("utf8"));
  } catch {
    throw new HandshakeError("handshake parameters are not valid JSON");
  }
  const p = params as Partial<HandshakeParams>;
  if (typeof p !== "object" || p === null || !Number.isSafeInteger(p.maxMessageSize) || (p.maxMessageSize as number) < 1) {
    throw new HandshakeError("handshake parameters lack a valid maxMessageSize");
  }
  return {
    id: idFromPublicKey(new Uint8Array(pub)),
    params: {
      maxMessageSize: p.maxMessageSize as number,
      strategy: typeof p.strategy === "string" ? p.strategy.slice(0, 32) : undefined,
      token: typeof p.token === "string" ? p.token.slice(0, 128) : undefined,
      ...(p.resumable === true ? { resumable: true } : {}),
      ...(typeof p.resume === "string" && /^[0-9a-f]{32}$/.test(p.resume) ? { resume: p.resume } : {}),
    },
  };
}

function frameMessage(body: Buffer): Buffer {
  const len = Buffer.allocUnsafe(2);
  len.writeUInt16BE(body.length, 0);
  return Buffer.concat([len, body]);
}

function checkHeader(msg: Buffer, type: Msg): void {
  if (msg[0] !== PROTOCOL_VERSION) throw new HandshakeError(`peer speaks handshake version ${msg[0]}; this node speaks ${PROTOCOL_VERSION}`);
  if (msg[1] !== type) throw new HandshakeError(`expected handshake message ${Msg[type]}, got type ${msg[1]}`);
}

/**
 * Runs the handshake on a connected stream. On failure the stream is left for
 * the caller to destroy; the error is typed (HandshakeError, PeerIdentityError,
 * RefusedError, TimeoutError, AbortError).
 */
export async function handshake(stream: Duplex, opts: HandshakeOptions): Promise<HandshakeResult> {
  const first = opts.firstMessageTimeout ?? FIRST_MESSAGE_TIMEOUT;
  if (typeof first !== "number" || !(first > 0)) throw new InvalidArgumentError(`firstMessageTimeout must be a positive number of ms, got ${String(first)}`);
  const timers = opts.timers ?? systemTimers;
  const reader = new Reader(stream, opts.role === "responder" ? MAX_EARLY_BYTES : Infinity);
  // One signal for the caller's abort and the overall timeout; it fails the pending read.
  const d = deadline({ timeout: opts.timeout, signals: [opts.signal], what: "handshake", timers });
  const stopped = () => reader.fail(stoppedError(opts));
  d.signal.addEventListener("abort", stopped, { once: true });
  let firstTimer: TimerHandle | undefined;
  let firstCheck: NodeJS.Immediate | undefined;
  if (opts.role === "responder" && first < opts.timeout) {
    // Timers run before the poll phase reads sockets: when our own event loop lags, the
    // HELLO may already be in the socket. Decide after pending I/O was read (setImmediate
    // runs after poll), so our own lag is not blamed on the peer.
    firstTimer = timers.setTimeout(() => {
      firstCheck = setImmediate(() => reader.fail(new TimeoutError(`the initiator's first handshake message did not arrive within ${first} ms`)));
    }, first);
  }
  const clearFirst = () => {
    timers.clearTimeout(firstTimer);
    clearImmediate(firstCheck);
    firstTimer = firstCheck = undefined;
  };
  const onFirstMessage = () => {
    clearFirst();
    opts.onFirstMessage?.();
  };
  try {
    if (d.signal.aborted) throw stoppedError(opts);
    const result = opts.role === "initiator" ? await runInitiator(stream, reader, opts) : await runResponder(stream, reader, opts, onFirstMessage);
    result.leftover = reader.detach();
    return result;
  } catch (err) {
    reader.detach();
    throw err;
  } finally {
    d.signal.removeEventListener("abort", stopped);
    d.done();
    clearFirst();
  }
}

/** Why the deadline stopped the handshake: the caller aborted (AbortError), else the time ran out. */
function stoppedError(opts: HandshakeOptions): Error {
  if (opts.signal?.aborted) return new AbortError("handshake aborted", { cause: opts.signal.reason });
  return new TimeoutError(`handshake did not complete within ${opts.timeout} ms`);
}

function write(stream: Duplex, data: Buffer | Buffer[]): void {
  if (stream.destroyed) return;
  if (Array.isArray(data)) for (const d of data) stream.write(d);
  else stream.write(data);
}

async function runInitiator(stream: Duplex, reader: Reader, opts: HandshakeOptions): Promise<HandshakeResult> {
  const eph = generateKeyPairSync("x25519");
  const ePub = rawX25519(eph.publicKey);
  const msg1 = Buffer.concat([Buffer.from([PROTOCOL_VERSION, Msg.HELLO]), ePub]);
  write(stream, frameMessage(msg1));

  const msg2 = await reader.readMessage();
  if (msg2.length < 2 + 32 + TAG_LENGTH) throw new HandshakeError("handshake reply too short");
  checkHeader(msg2, Msg.REPLY);
  const eRemote = msg2.subarray(2, 34);
  const dh = agree(eph.privateKey, eRemote);
  const th1 = sha256(PROLOGUE, msg1, eRemote);
  const keys = hkdf(dh, th1, "p2pnode/1 handshake keys", 64);
  const responder = decodePayload("responder", th1, open(keys.subarray(0, 32), msg2.subarray(34), msg2.subarray(0, 34)));
  if (opts.expectedRemoteId && responder.id !== opts.expectedRemoteId) {
    // Stop before revealing our own identity to the wrong peer.
    throw new PeerIdentityError(`peer proved identity ${responder.id}, but the address names ${opts.expectedRemoteId}`);
  }
  const th2 = sha256(th1, msg2);
  const header3 = Buffer.from([PROTOCOL_VERSION, Msg.FINISH]);
  const msg3 = Buffer.concat([header3, seal(keys.subarray(32, 64), encodePayload(opts.identity, "initiator", th2, opts.params), header3)]);
  write(stream, frameMessage(msg3));

  const binding = sha256(th2, msg3);
  const session = hkdf(dh, binding, "p2pnode/1 session keys", 64);
  const resumeKey = hkdf(dh, binding, "p2pnode/1 resume", 32);
  const channel = new SecureChannel(session.subarray(0, 32), session.subarray(32, 64));
  // The responder's first record is READY (accepted) or ERROR (refused).
  const len = (await reader.read(RECORD_HEADER_LENGTH)).readUInt32BE(0);
  if (len > 4096) throw new HandshakeError("first record after the handshake is too large");
  let frame;
  try {
    frame = decodeFrame(channel.open(await reader.read(len)));
  } catch (err) {
    if (err instanceof FrameError) throw new HandshakeError(`first record after the handshake is invalid: ${err.message}`, { cause: err });
    throw err;
  }
  if (frame.type === FrameType.ERROR) {
    const code = frame.payload[0];
    if (code === WireError.REFUSED) throw new RefusedError("the peer refused the connection");
    throw new HandshakeError(`the peer closed the session: ${frame.payload.subarray(1).toString()}`);
  }
  if (frame.type !== FrameType.READY) throw new HandshakeError(`expected READY after the handshake, got frame type ${frame.type}`);
  return { remoteId: responder.id, remoteParams: responder.params, channel, leftover: Buffer.alloc(0), binding, resumeKey };
}

async function runResponder(stream: Duplex, reader: Reader, opts: HandshakeOptions, onFirstMessage: () => void): Promise<HandshakeResult> {
  const msg1 = await reader.readMessage();
  onFirstMessage();
  if (msg1.length !== 34) throw new HandshakeError("handshake hello has the wrong length (not a p2pnode peer?)");
  checkHeader(msg1, Msg.HELLO);
  const eph = generateKeyPairSync("x25519");
  const ePub = rawX25519(eph.publicKey);
  const dh = agree(eph.privateKey, msg1.subarray(2));
  const th1 = sha256(PROLOGUE, msg1, ePub);
  const keys = hkdf(dh, th1, "p2pnode/1 handshake keys", 64);
  const header2 = Buffer.concat([Buffer.from([PROTOCOL_VERSION, Msg.REPLY]), ePub]);
  const msg2 = Buffer.concat([header2, seal(keys.subarray(0, 32), encodePayload(opts.identity, "responder", th1, opts.params), header2)]);
  write(stream, frameMessage(msg2));

  const msg3 = await reader.readMessage();
  if (msg3.length < 2 + TAG_LENGTH) throw new HandshakeError("handshake finish too short");
  checkHeader(msg3, Msg.FINISH);
  const th2 = sha256(th1, msg2);
  const initiator = decodePayload("initiator", th2, open(keys.subarray(32, 64), msg3.subarray(2), msg3.subarray(0, 2)));
  const binding = sha256(th2, msg3);
  const session = hkdf(dh, binding, "p2pnode/1 session keys", 64);
  const resumeKey = hkdf(dh, binding, "p2pnode/1 resume", 32);
  const channel = new SecureChannel(session.subarray(32, 64), session.subarray(0, 32));
  if (opts.expectedRemoteId && initiator.id !== opts.expectedRemoteId) {
    write(stream, channel.seal([encodeFrameHeader(FrameType.ERROR, 0, 0, 0), Buffer.from([WireError.REFUSED])]));
    throw new PeerIdentityError(`peer proved identity ${initiator.id}, but ${opts.expectedRemoteId} was expected`);
  }
  if (opts.accept && !(await opts.accept(initiator.id, initiator.params))) {
    write(stream, channel.seal([encodeFrameHeader(FrameType.ERROR, 0, 0, 0), Buffer.from([WireError.REFUSED])]));
    throw new RefusedError(`refused inbound pipe from ${initiator.id}`);
  }
  if (reader.overflow) throw reader.overflow; // it streamed bytes while accept() decided
  write(stream, channel.seal([encodeFrameHeader(FrameType.READY, 0, 0, 0)]));
  return { remoteId: initiator.id, remoteParams: initiator.params, channel, leftover: Buffer.alloc(0), binding, resumeKey };
}
