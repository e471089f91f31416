/**
 * Builds the embedded server's answer to one decoded Binding request. Pure:
 * the server decides where it goes; this decides what fits.
 */
import { encodingLength, Method, unknownRequiredAttributes, type DecodedStunMessage, type StunAttribute, type StunMessage, type TransportAddress } from "./codec.ts";
import { fitAnswer, fitError, type Candidate } from "./reply-size.ts";

/** RFC 5780 §7.6 PADDING: understood (so not a 420) and ignored, except that it counts towards the request's size. */
export const PADDING = 0x0026;

export interface AnswerInput {
  req: DecodedStunMessage;
  /** The requester's transport address as we saw it (the mapped address). */
  from: TransportAddress;
  /** The address the answer leaves from (RESPONSE-ORIGIN). */
  origin: TransportAddress;
  /** OTHER-ADDRESS, when the server has an alternate IP and port. */
  other?: TransportAddress;
  software: string;
  /**
   * The most bytes the answer may have: the request's own size on UDP
   * (docs/stun.md "Exposure"), Infinity on TCP, whose handshake proved that
   * the source receives.
   */
  budget: number;
  /** An answer whose essential part is over the budget is not sent at all. */
  strict: boolean;
  /** Extension attributes to echo (essential). */
  extra?: StunAttribute[];
  /**
   * The answer goes to RESPONSE-PORT, not back to its source (RFC 5780 §7.5).
   * The client already knows OTHER-ADDRESS from its first test, so only the
   * mapped address is essential there and OTHER-ADDRESS is kept when it fits.
   */
  redirected?: boolean;
}

export interface Answer {
  /** The encoded answer; undefined to stay silent (not a request, or nothing fits). */
  bytes: Uint8Array | undefined;
  /** Optional attributes were left out to fit a UDP budget. */
  trimmed: boolean;
}

export function buildAnswer(a: AnswerInput): Answer {
  const { req } = a;
  if (req.class !== "request") return { bytes: undefined, trimmed: false };
  const legacy = req.legacyCookie;
  // An RFC 3489 request gets its own 128-bit transaction id back (RFC 8489 §12.2).
  const base = { method: req.method, transactionId: req.transactionId, ...(legacy ? { legacyCookie: legacy } : {}) };
  const onTcp = a.budget === Infinity;
  const fail = (code: number, reason: string, attrs: StunAttribute[] = []): Answer => ({
    bytes: fitError(base, code, reason, [...attrs, ...(onTcp ? [{ type: "SOFTWARE" as const, value: a.software }] : [])], { budget: a.budget, fingerprint: !legacy }),
    trimmed: false,
  });
  if (req.method !== Method.BINDING) return fail(400, "Bad Request: only Binding is served");
  const unknown = unknownRequiredAttributes(req).filter((t) => t !== PADDING);
  if (unknown.length) return fail(420, "Unknown Attribute", [{ type: "UNKNOWN-ATTRIBUTES", value: unknown }]);
  if (legacy) return legacyAnswer(a, base);
  // Wire order as always; `rank` decides what stays when a UDP budget is short.
  // Essential (0): the mapped address is the point of a Binding, and without
  // OTHER-ADDRESS an RFC 5780 client cannot run its tests. The rest it can do without.
  const candidates: Candidate[] = [
    { attr: { type: "XOR-MAPPED-ADDRESS", value: a.from }, rank: 0 },
    { attr: { type: "MAPPED-ADDRESS", value: a.from }, rank: 3 },
    { attr: { type: "RESPONSE-ORIGIN", value: a.origin }, rank: 2 },
    ...(a.other ? [{ attr: { type: "OTHER-ADDRESS" as const, value: a.other }, rank: a.redirected ? 1 : 0 }] : []),
    ...(a.extra ?? []).map((attr) => ({ attr, rank: 0 })),
    { attr: { type: "SOFTWARE", value: a.software }, rank: 4 },
  ];
  const bytes = fitAnswer({ ...base, class: "success" }, candidates, { budget: a.budget, strict: a.strict, fingerprint: true });
  const trimmed = bytes !== undefined && !onTcp && bytes.length < encodingLength({ ...base, class: "success", attributes: candidates.map((c) => c.attr) }, { fingerprint: true });
  return { bytes, trimmed };
}

/**
 * The answer to an RFC 3489 Binding request (RFC 8489 §12.2, RFC 5780 §7.3/7.4):
 * MAPPED-ADDRESS instead of XOR-MAPPED-ADDRESS, and the RFC 3489 names
 * CHANGED-ADDRESS and SOURCE-ADDRESS for OTHER-ADDRESS and RESPONSE-ORIGIN,
 * because that client knows no others. No SOFTWARE or FINGERPRINT: it would
 * only skip them. The same budget as any UDP answer; CHANGED-ADDRESS is as
 * essential as OTHER-ADDRESS, since a 3489 client cannot run its tests without it.
 */
function legacyAnswer(a: AnswerInput, base: Omit<StunMessage, "attributes" | "class">): Answer {
  const candidates: Candidate[] = [
    { attr: { type: "MAPPED-ADDRESS", value: a.from }, rank: 0 },
    { attr: { type: "SOURCE-ADDRESS", value: a.origin }, rank: 1 },
    ...(a.other ? [{ attr: { type: "CHANGED-ADDRESS" as const, value: a.other }, rank: a.redirected ? 1 : 0 }] : []),
  ];
  const bytes = fitAnswer({ ...base, class: "success" }, candidates, { budget: a.budget, strict: a.strict, fingerprint: false });
  const trimmed = bytes !== undefined && bytes.length < encodingLength({ ...base, class: "success", attributes: candidates.map((c) => c.attr) });
  return { bytes, trimmed };
}
