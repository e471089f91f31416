/**
 * STUN numbers: methods, classes and attribute types (RFC 8489 §18, RFC 5780
 * §7, RFC 8656 §18, RFC 6062 §6.2), plus p2pnode's own dial-back extension.
 */

/** The fixed magic cookie of RFC 5389/8489 (§5). */
export const MAGIC_COOKIE = 0x2112a442;
/** The FINGERPRINT CRC is XORed with "STUN" (RFC 8489 §14.7). */
export const FINGERPRINT_XOR = 0x5354554e;
export const HEADER_LENGTH = 20;
/** The message length field is 16 bits and counts the body only. */
export const MAX_BODY_LENGTH = 0xfffc;

/** STUN and TURN methods (12-bit). */
export const Method = {
  BINDING: 0x001,
  ALLOCATE: 0x003,
  REFRESH: 0x004,
  SEND: 0x006,
  DATA: 0x007,
  CREATE_PERMISSION: 0x008,
  CHANNEL_BIND: 0x009,
  CONNECT: 0x00a,
  CONNECTION_BIND: 0x00b,
  CONNECTION_ATTEMPT: 0x00c,
} as const;

export type StunClass = "request" | "indication" | "success" | "error";
export const CLASS_BITS: Record<StunClass, number> = { request: 0, indication: 1, success: 2, error: 3 };
export const CLASS_NAMES: readonly StunClass[] = ["request", "indication", "success", "error"];

/**
 * Attribute type numbers. 0x0000-0x7FFF are comprehension-required: a server
 * that does not know one must answer 420 with UNKNOWN-ATTRIBUTES.
 */
export const AttrType = {
  "MAPPED-ADDRESS": 0x0001,
  "CHANGE-REQUEST": 0x0003,
  /** RFC 3489 §11.2.5; RESPONSE-ORIGIN took its place. Only in answers to RFC 3489 requests. */
  "SOURCE-ADDRESS": 0x0004,
  /** RFC 3489 §11.2.3; OTHER-ADDRESS took its place. Only in answers to RFC 3489 requests. */
  "CHANGED-ADDRESS": 0x0005,
  USERNAME: 0x0006,
  "MESSAGE-INTEGRITY": 0x0008,
  "ERROR-CODE": 0x0009,
  "UNKNOWN-ATTRIBUTES": 0x000a,
  "CHANNEL-NUMBER": 0x000c,
  LIFETIME: 0x000d,
  "XOR-PEER-ADDRESS": 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  "XOR-RELAYED-ADDRESS": 0x0016,
  "REQUESTED-TRANSPORT": 0x0019,
  /** RFC 8489 §14.6: HMAC-SHA256, 16-32 bytes (a multiple of 4). */
  "MESSAGE-INTEGRITY-SHA256": 0x001c,
  /** RFC 8489 §14.12: the algorithm the client picked for the long-term key. */
  "PASSWORD-ALGORITHM": 0x001d,
  "XOR-MAPPED-ADDRESS": 0x0020,
  "RESPONSE-PORT": 0x0027,
  "CONNECTION-ID": 0x002a,
  /** RFC 8489 §14.11: the algorithms the server offers (comprehension-optional). */
  "PASSWORD-ALGORITHMS": 0x8002,
  SOFTWARE: 0x8022,
  "ALTERNATE-SERVER": 0x8023,
  FINGERPRINT: 0x8028,
  "RESPONSE-ORIGIN": 0x802b,
  "OTHER-ADDRESS": 0x802c,
  /**
   * p2pnode extension (comprehension-optional, so other servers ignore it):
   * asks the server to open a TCP connection back to the mapped address.
   * See docs/stun.md "Dial-back".
   */
  "P2PNODE-DIAL-BACK": 0xc0d8,
  /**
   * p2pnode extension (comprehension-optional): asks the server (over TCP) to
   * open a TCP connection to the requester's observed IP at a GIVEN port, and
   * reports in the answer whether it connected. Verifies a port mapping.
   * See docs/stun.md "Dial-port".
   */
  "P2PNODE-DIAL-PORT": 0xc0d9,
} as const;

export type KnownAttrName = keyof typeof AttrType;

const NAMES = new Map<number, KnownAttrName>(
  (Object.entries(AttrType) as Array<[KnownAttrName, number]>).map(([k, v]) => [v, k]),
);

/** The name of a known attribute type number, or undefined. */
export function attrName(type: number): KnownAttrName | undefined {
  return NAMES.get(type);
}

/** True for 0x0000-0x7FFF (RFC 8489 §14). */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

/** PASSWORD-ALGORITHM(S) numbers (RFC 8489 §18.5). */
export const PasswordAlgorithm = { MD5: 0x0001, SHA256: 0x0002 } as const;

/** REQUESTED-TRANSPORT protocol numbers (RFC 8656 §14.7, RFC 6062). */
export const Protocol = { UDP: 17, TCP: 6 } as const;
