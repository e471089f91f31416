/**
 * How big a UDP answer of the embedded STUN server may be (docs/stun.md
 * "Exposure"). UDP sources can be spoofed, so every byte we send beyond the
 * request's size is amplification towards whoever was spoofed. Pure.
 */
import { encode, encodingLength, type StunAttribute, type StunMessage } from "./codec.ts";

/** One attribute an answer may carry. `essential` ones are never dropped (unless `strict`); the others go in `rank` order while they fit. */
export interface Candidate {
  attr: StunAttribute;
  /** 0 = essential; lower ranks are kept first when the budget is short. */
  rank: number;
}

export interface FitOptions {
  /** The most bytes the answer may have; Infinity for TCP (the handshake proved the source). */
  budget: number;
  /** Drop the answer (undefined) when even the essential attributes exceed the budget. */
  strict: boolean;
  /** Add FINGERPRINT when it still fits (after every optional attribute). */
  fingerprint: boolean;
}

const attrBytes = (a: StunAttribute, txid: Uint8Array) => encodingLength({ method: 0, class: "success", transactionId: txid, attributes: [a] }) - 20;

/**
 * Encodes `head` with the essential candidates and as many optional ones as
 * fit in `budget` (by rank; greedy, so a smaller one may still fit after a
 * bigger one did not), keeping the candidates' order on the wire. Returns
 * undefined when `strict` and the essential ones alone are too big.
 */
export function fitAnswer(head: Omit<StunMessage, "attributes">, candidates: Candidate[], opts: FitOptions): Uint8Array | undefined {
  const keep = new Set<Candidate>();
  let size = 20;
  for (const c of candidates) {
    if (c.rank !== 0) continue;
    keep.add(c);
    size += attrBytes(c.attr, head.transactionId);
  }
  if (opts.strict && size > opts.budget) return undefined;
  const optional = candidates.filter((c) => c.rank !== 0).sort((a, b) => a.rank - b.rank);
  for (const c of optional) {
    const n = attrBytes(c.attr, head.transactionId);
    if (size + n <= opts.budget) {
      keep.add(c);
      size += n;
    }
  }
  const fingerprint = opts.fingerprint && size + 8 <= opts.budget;
  return encode({ ...head, attributes: candidates.filter((c) => keep.has(c)).map((c) => c.attr) }, { fingerprint });
}

/**
 * An error answer that fits `budget`: ERROR-CODE with its reason phrase cut
 * to what is left after the `extra` attributes that fit (UNKNOWN-ATTRIBUTES
 * matters more than prose), then FINGERPRINT if there is still room. An error
 * is never essential: undefined when not even a bare ERROR-CODE fits.
 */
export function fitError(head: Omit<StunMessage, "attributes" | "class">, code: number, reason: string, extra: StunAttribute[], opts: { budget: number; fingerprint: boolean }): Uint8Array | undefined {
  const msg: StunMessage = { ...head, class: "error", attributes: [] };
  let size = 20 + 8; // header + ERROR-CODE without a reason
  if (size > opts.budget) return undefined;
  const kept: StunAttribute[] = [];
  for (const a of extra) {
    const n = attrBytes(a, head.transactionId);
    if (size + n <= opts.budget) {
      kept.push(a);
      size += n;
    }
  }
  // The padded reason must fit in what is left.
  const room = Number.isFinite(opts.budget) ? Math.floor((opts.budget - size) / 4) * 4 : Buffer.byteLength(reason);
  let cut = reason;
  while (Buffer.byteLength(cut) > Math.max(0, room)) cut = cut.slice(0, -1);
  size += (Buffer.byteLength(cut) + 3) & ~3;
  msg.attributes = [{ type: "ERROR-CODE", value: { code, reason: cut } }, ...kept];
  return encode(msg, { fingerprint: opts.fingerprint && size + 8 <= opts.budget });
}
