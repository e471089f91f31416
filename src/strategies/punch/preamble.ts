/**
 * The punch preamble: the first bytes on a punched connection, before the
 * authenticated handshake. The responder greets on every connection that
 * opens (HELLO); the initiator, the controlling side as in ICE (RFC 8445
 * §8.1.1), answers the first greeting with NOMINATE and drops the rest. A
 * 4-tuple hash cannot pick the winner: each side of a NAT sees other tuples.
 *
 *   magic "P2PP" (4) | kind u8 (1 HELLO, 2 NOMINATE) | proof (16) | startedAt f64 BE (8)
 *
 *   proof = HMAC-SHA256(token, label(kind) ‖ kind ‖ startedAt f64 BE), first 16 bytes
 *
 * The 16-byte token of the punch request binds the connection to that request,
 * but it never goes on the wire here: anyone on the path would read it. Each
 * side proves it holds the token with an HMAC under a label of its own kind,
 * so a HELLO seen on the path (or sent back) is no NOMINATE and reveals
 * nothing that forges one. startedAt (when the sender's first SYN left, in its
 * clock; the initiator derives the start skew from it) is covered too. The
 * handshake that follows authenticates the peer itself.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Duplex } from "node:stream";
import { AbortError, PunchError } from "../../errors.ts";

export const PREAMBLE_LENGTH = 29;
export const PROOF_LENGTH = 16;
const MAGIC = Buffer.from("P2PP");
export const enum PreambleKind {
  HELLO = 1,
  NOMINATE = 2,
}
/** Distinct per kind: a proof made for one kind never verifies as the other. */
const LABELS: Record<PreambleKind, Buffer> = {
  [PreambleKind.HELLO]: Buffer.from("p2pnode punch HELLO v1"),
  [PreambleKind.NOMINATE]: Buffer.from("p2pnode punch NOMINATE v1"),
};

/** What a preamble carries on the wire (a proof, not the token). */
export interface Preamble {
  kind: PreambleKind;
  proof: Buffer;
  startedAt: number;
}

/** The proof of holding `token` for a preamble of `kind` that reports `startedAt`. */
export function preambleProof(token: Buffer, kind: PreambleKind, startedAt: number): Buffer {
  if (token.length !== 16) throw new PunchError("punch token must be 16 bytes");
  const tail = Buffer.alloc(9);
  tail[0] = kind;
  tail.writeDoubleBE(startedAt, 1);
  return createHmac("sha256", token).update(LABELS[kind]).update(tail).digest().subarray(0, PROOF_LENGTH);
}

export function encodePreamble(p: { kind: PreambleKind; token: Buffer; startedAt: number }): Buffer {
  const b = Buffer.alloc(PREAMBLE_LENGTH);
  MAGIC.copy(b, 0);
  b[4] = p.kind;
  preambleProof(p.token, p.kind, p.startedAt).copy(b, 5);
  b.writeDoubleBE(p.startedAt, 21);
  return b;
}

export function decodePreamble(b: Buffer): Preamble {
  if (b.length !== PREAMBLE_LENGTH || !b.subarray(0, 4).equals(MAGIC)) throw new PunchError("not a punch preamble");
  const kind = b[4];
  if (kind !== PreambleKind.HELLO && kind !== PreambleKind.NOMINATE) throw new PunchError(`unknown punch preamble kind ${kind}`);
  return { kind, proof: Buffer.from(b.subarray(5, 5 + PROOF_LENGTH)), startedAt: b.readDoubleBE(21) };
}

/** Is `p` a preamble of kind `want` made with `token`? (constant-time compare) */
export function verifyPreamble(p: Preamble, token: Buffer, want: PreambleKind): boolean {
  if (p.kind !== want || p.proof.length !== PROOF_LENGTH) return false;
  return timingSafeEqual(p.proof, preambleProof(token, want, p.startedAt));
}

/**
 * Reads exactly one preamble in paused mode (`read(n)` on 'readable'), so any
 * further bytes stay buffered for the handshake and the stream is left neither
 * flowing nor explicitly paused: the handshake's 'data' listener starts it.
 * Rejects on close, error or abort.
 */
export function readPreamble(stream: Duplex, signal: AbortSignal): Promise<Preamble> {
  return new Promise((resolve, reject) => {
    const finish = (err: Error | null, p?: Preamble) => {
      stream.off("readable", onReadable);
      stream.off("close", onClose);
      stream.off("end", onClose);
      stream.off("error", onError);
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(p as Preamble);
    };
    const onReadable = () => {
      const b = stream.read(PREAMBLE_LENGTH) as Buffer | null;
      if (b === null) return;
      if (b.length < PREAMBLE_LENGTH) return finish(new PunchError("punched connection closed inside its preamble"));
      try {
        finish(null, decodePreamble(b));
      } catch (err) {
        finish(err as Error);
      }
    };
    const onClose = () => finish(new PunchError("punched connection closed before its preamble"));
    const onError = (err: Error) => finish(err);
    const onAbort = () => finish(new AbortError("punch preamble read aborted"));
    if (signal.aborted) return onAbort();
    stream.on("readable", onReadable);
    stream.once("close", onClose);
    stream.once("end", onClose);
    stream.once("error", onError);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
