/**
 * TURN ChannelData messages (RFC 8656 §12.4): a 4-byte header — channel
 * number (0x4000–0x4FFF), data length — then the data. Over TCP and TLS each
 * message is padded to a multiple of 4 bytes (the padding is not counted in
 * the length); over UDP padding is optional and ignored on receipt. Pure.
 * Splitting a TCP stream into STUN messages and ChannelData is StunFramer's job.
 */
import { ProtocolError } from "../errors.ts";

export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x4fff;
export const CHANNEL_HEADER = 4;

export function isValidChannel(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_CHANNEL && n <= MAX_CHANNEL;
}

/** True when the first byte says ChannelData (top two bits 01), not STUN (00). */
export function looksLikeChannelData(buf: Uint8Array): boolean {
  return buf.length >= CHANNEL_HEADER && (buf[0] & 0xc0) === 0x40;
}

/** One ChannelData message; `stream` adds the TCP/TLS padding. */
export function encodeChannelData(channel: number, data: Uint8Array, stream: boolean): Uint8Array {
  if (!isValidChannel(channel)) throw new RangeError(`channel number 0x${channel.toString(16)} is outside 0x4000–0x4FFF`);
  if (data.length > 0xffff) throw new RangeError(`ChannelData carries at most 65535 bytes, got ${data.length}`);
  const padded = stream ? (data.length + 3) & ~3 : data.length;
  const out = new Uint8Array(CHANNEL_HEADER + padded);
  out[0] = channel >> 8;
  out[1] = channel & 0xff;
  out[2] = data.length >> 8;
  out[3] = data.length & 0xff;
  out.set(data, CHANNEL_HEADER);
  return out;
}

export interface ChannelData {
  channel: number;
  /** A view into the input (no copy). */
  data: Uint8Array;
}

/**
 * Decodes one ChannelData message from a datagram or a framed TCP chunk.
 * Throws ProtocolError (the bytes came from the server or the network) when the
 * channel is out of range or the length runs past the input; bytes after the
 * data (padding) are ignored.
 */
export function decodeChannelData(buf: Uint8Array): ChannelData {
  if (buf.length < CHANNEL_HEADER) throw new ProtocolError(`ChannelData shorter than its ${CHANNEL_HEADER}-byte header (${buf.length} bytes)`);
  const channel = (buf[0] << 8) | buf[1];
  if (!isValidChannel(channel)) throw new ProtocolError(`ChannelData for channel 0x${channel.toString(16)}, outside 0x4000–0x4FFF`);
  const length = (buf[2] << 8) | buf[3];
  if (CHANNEL_HEADER + length > buf.length) throw new ProtocolError(`ChannelData says ${length} bytes but carries ${buf.length - CHANNEL_HEADER}`);
  return { channel, data: buf.subarray(CHANNEL_HEADER, CHANNEL_HEADER + length) };
}
