/** The mapping between a reply's wire error and the typed error request() rejects with. */
import { DialError, MessageTooLargeError, RefusedError, SignalingError, WireError, isP2PError } from "../errors.ts";
import type { WireErrorBody } from "./messages.ts";

/** Maps a reply's wire error to the error request() rejects with. */
export function errorFromWire(e: WireErrorBody, peer: string): Error {
  const msg = `peer ${peer.slice(0, 12)}…: ${e.message}`;
  if (e.code === WireError.REFUSED) return new RefusedError(msg);
  if (e.code === WireError.DIAL_FAILED) return new DialError(msg);
  if (e.code === WireError.TOO_LARGE) return new MessageTooLargeError(msg);
  return new SignalingError(msg);
}

/** Maps a handler's error to the wire; only our own errors' messages cross the wire. */
export function errorToWire(err: unknown): WireErrorBody {
  if (err instanceof RefusedError) return { code: WireError.REFUSED, message: err.message };
  if (err instanceof DialError) return { code: WireError.DIAL_FAILED, message: err.message };
  if (err instanceof MessageTooLargeError) return { code: WireError.TOO_LARGE, message: err.message };
  if (isP2PError(err)) return { code: WireError.PROTOCOL, message: err.message };
  return { code: WireError.PROTOCOL, message: "handler failed" };
}
