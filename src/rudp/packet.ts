/**
 * The reliable-UDP packet (pure codec). Every packet carries a cumulative ack,
 * the receive window and up to four SACK ranges, and a 16-byte tag
 * (HMAC-SHA256, truncated) under a key both ends agreed over end-to-end
 * encrypted signaling: a relay or an off-path sender can neither forge an ack
 * nor inject data. Byte layout (big-endian):
 *
 *   0  u8  version (1)          1  u8  flags (DATA 1, FIN 2, RST 4)
 *   (a data packet carries up to 4 SACK ranges, a pure ack up to 32)
 *   2  u16 SACK range count     4  u32 connection id
 *   8  u32 seq (packet number of this packet; 0 when it carries nothing)
 *  12  u32 ack (next packet number we expect)
 *  16  u32 window (packets we can still take beyond ack)
 *  20  n × (u32 first, u32 end) SACK ranges, end exclusive
 *  ..  payload (DATA only)      last 16: tag over everything before it
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const VERSION = 1;
export const FLAG_DATA = 1;
export const FLAG_FIN = 2;
export const FLAG_RST = 4;
export const HEADER_BYTES = 20;
export const TAG_BYTES = 16;
/** SACK ranges on a data packet; a pure ack may carry up to MAX_ACK_SACK. */
export const MAX_SACK = 4;
export const MAX_ACK_SACK = 32;
/** Largest datagram we build: fits a TURN ChannelData over IPv6 with room to spare. */
export const MAX_DATAGRAM = 1200;
export const MAX_PAYLOAD = MAX_DATAGRAM - HEADER_BYTES - MAX_SACK * 8 - TAG_BYTES;

export interface SackRange {
  first: number;
  end: number;
}

export interface Packet {
  flags: number;
  connId: number;
  seq: number;
  ack: number;
  window: number;
  sack: SackRange[];
  payload?: Uint8Array;
}

export type DecodeResult = { ok: true; packet: Packet } | { ok: false; reason: "short" | "version" | "tag" | "malformed" | "conn" };

export function encodePacket(p: Packet, key: Uint8Array): Uint8Array {
  const sack = p.sack.slice(0, p.payload ? MAX_SACK : MAX_ACK_SACK);
  const payload = p.payload ?? new Uint8Array(0);
  const len = HEADER_BYTES + sack.length * 8 + payload.length;
  const out = new Uint8Array(len + TAG_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, VERSION);
  dv.setUint8(1, p.flags);
  dv.setUint16(2, sack.length);
  dv.setUint32(4, p.connId >>> 0);
  dv.setUint32(8, p.seq >>> 0);
  dv.setUint32(12, p.ack >>> 0);
  dv.setUint32(16, p.window >>> 0);
  let off = HEADER_BYTES;
  for (const r of sack) {
    dv.setUint32(off, r.first >>> 0);
    dv.setUint32(off + 4, r.end >>> 0);
    off += 8;
  }
  out.set(payload, off);
  out.set(tag(key, out.subarray(0, len)), len);
  return out;
}

/** Decodes and authenticates; never throws (hostile input is a reason, counted by the caller). */
export function decodePacket(buf: Uint8Array, key: Uint8Array, connId: number): DecodeResult {
  if (buf.length < HEADER_BYTES + TAG_BYTES || buf.length > 65535) return { ok: false, reason: "short" };
  const body = buf.subarray(0, buf.length - TAG_BYTES);
  const expected = tag(key, body);
  if (!timingSafeEqual(expected, buf.subarray(buf.length - TAG_BYTES))) return { ok: false, reason: "tag" };
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint8(0) !== VERSION) return { ok: false, reason: "version" };
  const flags = dv.getUint8(1);
  const n = dv.getUint16(2);
  if (n > ((flags & FLAG_DATA) !== 0 ? MAX_SACK : MAX_ACK_SACK) || HEADER_BYTES + n * 8 > body.length || (flags & ~(FLAG_DATA | FLAG_FIN | FLAG_RST)) !== 0) return { ok: false, reason: "malformed" };
  if (dv.getUint32(4) !== connId >>> 0) return { ok: false, reason: "conn" };
  const sack: SackRange[] = [];
  let off = HEADER_BYTES;
  for (let i = 0; i < n; i++, off += 8) {
    const first = dv.getUint32(off);
    const end = dv.getUint32(off + 4);
    if (end <= first) return { ok: false, reason: "malformed" };
    sack.push({ first, end });
  }
  const payload = body.subarray(off);
  const seq = dv.getUint32(8);
  if ((flags & (FLAG_DATA | FLAG_FIN)) !== 0 && seq === 0) return { ok: false, reason: "malformed" };
  if ((flags & FLAG_DATA) === 0 && payload.length > 0) return { ok: false, reason: "malformed" };
  return { ok: true, packet: { flags, connId, seq, ack: dv.getUint32(12), window: dv.getUint32(16), sack, payload: flags & FLAG_DATA ? payload : undefined } };
}

function tag(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(data).digest().subarray(0, TAG_BYTES));
}
