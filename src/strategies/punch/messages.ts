/**
 * The punch's wire messages over signaling: the request the initiator sends
 * and the responder's reply. Both come from a peer, so malformed input is a
 * ProtocolError (a request) or a PunchError naming the reply (on our dial).
 * The formats are in docs/punch.md; do not change them without a version.
 */
import { base64urlDecode } from "../../util/encoding.ts";
import { ProtocolError, PunchError } from "../../errors.ts";
import { parseOffer, type PunchOffer } from "./candidates.ts";

/** Signaling request type (and the responder's key). */
export const PUNCH = "punch";

/** Request body of `punch`. */
export interface PunchRequest {
  /** The initiator's signed address (the responder dials only endpoints it lists). */
  address: string;
  /** 16 bytes, base64url: binds the punched connection to this request. */
  token: string;
  offer: PunchOffer;
  /** Proposed start, in the RESPONDER's clock (ms since the epoch). */
  startAt: number;
  /** Signaling round trip the initiator measured (ms). */
  rttMs: number;
  /** How long the SYN window stays open after the start (ms). */
  windowMs: number;
}

/** Reply body of `punch`. */
export interface PunchReply {
  offer: PunchOffer;
  /** Agreed start, responder's clock. */
  startAt: number;
}

const num = (v: unknown, what: string): number => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new ProtocolError(`punch ${what} must be a number`);
  return v;
};

/** Validates a punch request body from the wire (peer input); throws ProtocolError. */
export function parseRequest(v: unknown): PunchRequest {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new ProtocolError("punch request must be an object");
  if (typeof o.address !== "string" || o.address.length > 4096) throw new ProtocolError("punch request needs the requester's address");
  const token = typeof o.token === "string" ? base64urlDecode(o.token) : null;
  if (!token || token.length !== 16) throw new ProtocolError("punch token must be 16 bytes of base64url");
  const windowMs = num(o.windowMs, "windowMs");
  if (windowMs < 100 || windowMs > 30_000) throw new ProtocolError("punch windowMs must be 100-30000");
  const rttMs = num(o.rttMs, "rttMs");
  if (rttMs > 30_000) throw new ProtocolError("punch rttMs must be at most 30000");
  return { address: o.address, token: o.token as string, offer: parseOffer(o.offer), startAt: num(o.startAt, "startAt"), rttMs: Math.max(0, rttMs), windowMs };
}

/** Validates the responder's punch reply; throws PunchError (the dial fails, naming what was wrong). */
export function parseReply(v: unknown): PunchReply {
  const o = v as Record<string, unknown> | null;
  if (typeof o !== "object" || o === null) throw new PunchError("the peer's punch reply is not an object");
  try {
    return { offer: parseOffer(o.offer), startAt: num(o.startAt, "startAt") };
  } catch (err) {
    throw new PunchError(`the peer's punch reply is unusable: ${(err as Error).message}`, { cause: err });
  }
}
