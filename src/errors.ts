/**
 * One error hierarchy for p2pnode. Every error has a stable string `code`
 * (documented in docs/errors.md, enforced by test/errors.test.ts) and a `name`.
 * A `Symbol.for` brand keeps `isP2PError` and `instanceof` true across two
 * loaded copies of the package (two versions in one tree, or a module loaded
 * twice): `err instanceof PeerIdentityError` checks the brand and the code.
 */
import type { ConnectAttempt } from "./util/trace.ts";
const kBrand = Symbol.for("p2pnode.error");
/** The classes made by def() below: their `instanceof` checks brand and code. */
const coded = new WeakSet<object>();

/** The base class of every p2pnode error: a stable `code` (docs/errors.md), a `name`, and `cause` when it wraps one. */
export class P2PError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
    (this as unknown as Record<symbol, boolean>)[kBrand] = true;
  }

  /** `instanceof` by brand and code, so it holds across two loaded copies of the package. */
  static override [Symbol.hasInstance](v: unknown): boolean {
    // P2PError itself: every branded error. A class with a code of its own: the
    // brand and that code. A user's subclass without one: the ordinary
    // prototype check (matching every branded error would make
    // `new TimeoutError() instanceof AppError` true).
    if (this === P2PError) return isP2PError(v);
    if (coded.has(this) || coded.has(Object.getPrototypeOf(this))) return isP2PError(v) && v.code === (this as unknown as { code: string }).code;
    return Function.prototype[Symbol.hasInstance].call(this, v);
  }
}

/** True for any p2pnode error, even from another loaded copy of the package. */
export function isP2PError(err: unknown): err is P2PError {
  return typeof err === "object" && err !== null && (err as Record<symbol, unknown>)[kBrand] === true;
}

type Opts = { cause?: unknown };
const def = (code: string) => {
  const base = class extends P2PError {
    static readonly code = code;
    constructor(message: string, options?: Opts) {
      super(code, message, options);
    }
  };
  coded.add(base);
  return base;
};

/** A caller passed an option or argument that is not valid. */
export class InvalidArgumentError extends def("P2P_ERR_INVALID_ARGUMENT") {}
/** An address string could not be parsed, was tampered with, or has expired. */
export class AddressError extends def("P2P_ERR_ADDRESS") {}
/** The peer proved an identity other than the one its address names. */
export class PeerIdentityError extends def("P2P_ERR_PEER_IDENTITY") {}
/** The secure handshake failed: bad message, bad signature, wrong version. */
export class HandshakeError extends def("P2P_ERR_HANDSHAKE") {}
/** A frame on a pipe was malformed, forged, or could not be decrypted. */
export class FrameError extends def("P2P_ERR_FRAME") {}
/** A message or frame is larger than the configured maximum. */
export class MessageTooLargeError extends def("P2P_ERR_MESSAGE_TOO_LARGE") {}
/** The pipe is closed; nothing more can be sent or received on it. */
export class PipeClosedError extends def("P2P_ERR_PIPE_CLOSED") {}
/** The peer stopped answering (no frame within the dead-peer timeout). */
export class PeerTimeoutError extends def("P2P_ERR_PEER_TIMEOUT") {}
/** A wait ran past its timeout. */
export class TimeoutError extends def("P2P_ERR_TIMEOUT") {}
/** The operation was aborted through its AbortSignal or by close(). */
export class AbortError extends def("P2P_ERR_ABORTED") {}
/** Every strategy failed; `errors` holds each strategy's own failure. */
export class ConnectError extends def("P2P_ERR_CONNECT") {
  /** Each failed attempt's error, in plan order. */
  errors: Error[] = [];
  /** Every strategy considered: skipped (why), failed (how), or not started. */
  trace: ConnectAttempt[] = [];
}
/** A strategy could not connect (unreachable, refused, timed out). */
export class DialError extends def("P2P_ERR_DIAL") {}
/** The node is closed or not started. */
export class NodeClosedError extends def("P2P_ERR_NODE_CLOSED") {}
/** The identity key file could not be read or is not an Ed25519 key. */
export class IdentityError extends def("P2P_ERR_IDENTITY") {}
/** A socket was about to reach an address the network guard forbids (tests). */
export class NetworkGuardError extends def("P2P_ERR_NETWORK_GUARD") {}
/** A STUN message was malformed or a STUN transaction failed. */
export class StunError extends def("P2P_ERR_STUN") {}
/** A signaling message was rejected or a signaling request failed. */
export class SignalingError extends def("P2P_ERR_SIGNALING") {}
/** The peer refused the request (access control or rate limit). */
export class RefusedError extends def("P2P_ERR_REFUSED") {}
/** Why a TURN server turned us down (RFC 8656 §6.4 / §20 error codes, or silence). */
export type TurnFailure =
  | "wrong-credentials" // 401 after we sent credentials
  | "forbidden" // 403
  | "allocation-mismatch" // 437
  | "wrong-credentials-for-allocation" // 441
  | "unsupported-transport" // 442
  | "quota" // 486: allocation quota reached
  | "capacity" // 508: insufficient capacity
  | "timeout" // no answer within the retransmission schedule
  | "protocol" // an answer we cannot use (no relayed address, bad integrity…)
  | "closed" // the connection to the server ended
  | "error"; // any other error code

/**
 * A TURN server refused or failed a request. `server` is the server's URI
 * (never credentials), `status` the STUN error code when there was one.
 */
export class TurnError extends def("P2P_ERR_TURN") {
  readonly server: string;
  readonly reason: TurnFailure;
  readonly status?: number;
  constructor(message: string, o: { server: string; reason: TurnFailure; status?: number; cause?: unknown }) {
    super(message, { cause: o.cause });
    this.server = o.server;
    this.reason = o.reason;
    this.status = o.status;
  }
}

/**
 * A peer (or a server acting for one) sent something malformed: a bad
 * request body, offer or reply. Not InvalidArgumentError, which is for the
 * caller's own arguments.
 */
export class ProtocolError extends def("P2P_ERR_PROTOCOL") {}

/** Wire error codes carried inside frames and signaling replies (not JS errors). */
export enum WireError {
  NONE = 0,
  PROTOCOL = 1,
  TOO_LARGE = 2,
  SHUTDOWN = 3,
  REFUSED = 4,
  DIAL_FAILED = 5,
}
/** The gateway refused or botched a port mapping (NAT-PMP/PCP result code, UPnP fault, bad answer). */
export class PortMappingError extends def("P2P_ERR_PORT_MAPPING") {}

/** A TCP hole punch could not be set up or did not connect within its deadline. */
export class PunchError extends def("P2P_ERR_PUNCH") {}
/** Hole punching cannot work for this pair of NATs (e.g. symmetric with random ports); the message names both kinds. */
export class PunchUnsupportedError extends def("P2P_ERR_PUNCH_UNSUPPORTED") {}

/** A file transfer could not write: the disk (or quota) is full (ENOSPC, EDQUOT). */
export class DiskFullError extends def("P2P_ERR_DISK_FULL") {}
/** A file transfer may not read or write a path (EACCES, EPERM, EROFS). */
export class PermissionDeniedError extends def("P2P_ERR_PERMISSION_DENIED") {}
/** A transferred file's SHA-256 differs from the one its sender offered. */
export class ChecksumError extends def("P2P_ERR_CHECKSUM") {}
