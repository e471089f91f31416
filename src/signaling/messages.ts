/**
 * Signaling message types and their bodies (docs/signaling.md §Messages).
 * Pure validators: every body that arrives is untrusted JSON.
 */
import { ProtocolError, WireError } from "../errors.ts";
import { base64urlDecode } from "../util/encoding.ts";

/** Envelope types reserved by the request layer. */
export const ACK = "ack";
export const REPLY = "reply";
export const RESERVED_TYPES: ReadonlySet<string> = new Set([ACK, REPLY]);

export const PING = "ping";
export const GET_ADDR = "get-addr";
export const REVERSE_CONNECT = "reverse-connect";

const HEX_ID = /^[0-9a-f]{32}$/;

/** Body of every request envelope: the caller's body plus where to send the ack and reply. */
export interface RequestWire {
  /** Brokers the requester listens on (checked by the broker URL rules before use). */
  replyTo: string[];
  body: unknown;
}

export interface AckWire {
  re: string;
}

export interface WireErrorBody {
  code: WireError;
  message: string;
}

export type ReplyWire = { re: string; ok: true; body: unknown } | { re: string; ok: false; error: WireErrorBody };

/** `ping` request body: the requester's send time (its clock, ms). */
export interface PingBody {
  t0: number;
}

/** `ping` reply body ("pong"): t0 echoed, t1 = when the peer received it, t2 = when it replied (peer's clock). */
export interface PongBody {
  t0: number;
  t1: number;
  t2: number;
}

/** `get-addr` reply body: the node's current signed address string. The request body is `{}`. */
export interface GetAddrReply {
  address: string;
}

/** `reverse-connect` request body: "please dial me": my address string and a one-time token (base64url, 16-64 bytes). */
export interface ReverseConnectBody {
  address: string;
  token: string;
  /** Set when the dial-back is a new path for a pipe we already share: its resume id (32 hex digits). */
  resume?: string;
}

/** `reverse-connect` reply body on success (the dial was made and the pipe is up). */
export interface ReverseConnectReply {
  connected: true;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isTime = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

export function parseRequestWire(v: unknown): RequestWire | null {
  if (!isObj(v) || !Array.isArray(v.replyTo) || v.replyTo.length > 16 || !("body" in v)) return null;
  if (!v.replyTo.every((u) => typeof u === "string" && u.length <= 1024)) return null;
  return { replyTo: v.replyTo as string[], body: v.body };
}

export function parseAckWire(v: unknown): AckWire | null {
  return isObj(v) && typeof v.re === "string" && HEX_ID.test(v.re) ? { re: v.re } : null;
}

export function parseReplyWire(v: unknown): ReplyWire | null {
  if (!isObj(v) || typeof v.re !== "string" || !HEX_ID.test(v.re)) return null;
  if (v.ok === true && "body" in v) return { re: v.re, ok: true, body: v.body };
  if (v.ok === false && isObj(v.error) && Number.isInteger(v.error.code) && typeof v.error.message === "string") {
    return { re: v.re, ok: false, error: { code: v.error.code as WireError, message: v.error.message.slice(0, 500) } };
  }
  return null;
}

export function parsePing(v: unknown): PingBody {
  if (!isObj(v) || !isTime(v.t0)) throw new ProtocolError("ping body must be { t0: ms }");
  return { t0: v.t0 };
}

export function parsePong(v: unknown): PongBody {
  if (!isObj(v) || !isTime(v.t0) || !isTime(v.t1) || !isTime(v.t2)) throw new ProtocolError("pong body must be { t0, t1, t2 }");
  return { t0: v.t0, t1: v.t1, t2: v.t2 };
}

export function parseGetAddrReply(v: unknown): GetAddrReply {
  if (!isObj(v) || typeof v.address !== "string" || v.address.length === 0 || v.address.length > 4096) {
    throw new ProtocolError("get-addr reply must be { address: string }");
  }
  return { address: v.address };
}

export function parseReverseConnect(v: unknown): ReverseConnectBody {
  if (!isObj(v) || typeof v.address !== "string" || v.address.length === 0 || v.address.length > 4096) {
    throw new ProtocolError("reverse-connect body must have an address string");
  }
  const token = typeof v.token === "string" ? base64urlDecode(v.token) : null;
  if (!token || token.length < 16 || token.length > 64) throw new ProtocolError("reverse-connect token must be 16-64 bytes of base64url");
  if (v.resume !== undefined && (typeof v.resume !== "string" || !/^[0-9a-f]{32}$/.test(v.resume))) throw new ProtocolError("reverse-connect resume must be a pipe's resume id (32 hex digits)");
  return { address: v.address, token: v.token as string, ...(v.resume !== undefined ? { resume: v.resume as string } : {}) };
}

/**
 * NTP-style estimate from one ping (RFC 5905 §8): offset = ((t1 - t0) + (t2 - t3)) / 2
 * is how far the peer's clock is ahead of ours; rtt = (t3 - t0) - (t2 - t1) excludes the peer's processing time.
 */
export function clockEstimate(pong: PongBody, t3: number): { rttMs: number; offsetMs: number } {
  return {
    rttMs: Math.max(0, t3 - pong.t0 - (pong.t2 - pong.t1)),
    offsetMs: (pong.t1 - pong.t0 + (pong.t2 - t3)) / 2,
  };
}
