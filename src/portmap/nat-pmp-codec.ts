/**
 * NAT-PMP wire format (RFC 6886), pure. All lifetimes are in SECONDS, as the
 * RFC says (§3.3); @achingbrain/nat-port-mapper sends milliseconds there, which
 * is why this codec exists (see docs/portmap.md).
 */
import { PortMappingError } from "../errors.ts";

/** UDP port of every NAT-PMP and PCP server (RFC 6886 §3.1, RFC 6887 §19.1). */
export const PMP_PORT = 5351;
export const NAT_PMP_VERSION = 0;

/** Request opcodes (§3.2, §3.3); an answer carries 128 + the request's opcode. */
export const PmpOp = { EXTERNAL_ADDRESS: 0, MAP_UDP: 1, MAP_TCP: 2 } as const;

/** Result codes (§3.5). */
export const PmpResult = {
  SUCCESS: 0,
  UNSUPPORTED_VERSION: 1,
  NOT_AUTHORIZED: 2,
  NETWORK_FAILURE: 3,
  OUT_OF_RESOURCES: 4,
  UNSUPPORTED_OPCODE: 5,
} as const;

const RESULT_TEXT = ["success", "unsupported version", "not authorized / refused", "network failure", "out of resources", "unsupported opcode"];

/** Human text for a NAT-PMP result code. */
export function pmpResultText(code: number): string {
  return RESULT_TEXT[code] ?? `result code ${code}`;
}

/** External-address request: version 0, opcode 0 (§3.2). */
export function encodePmpExternalAddressRequest(): Uint8Array {
  return Uint8Array.of(NAT_PMP_VERSION, PmpOp.EXTERNAL_ADDRESS);
}

export interface PmpMapRequest {
  protocol: "TCP" | "UDP";
  internalPort: number;
  /** 0 = no preference; 0 together with lifetime 0 deletes (§3.4). */
  suggestedExternalPort: number;
  /** Seconds; 0 deletes the mapping. */
  lifetimeSeconds: number;
}

function checkPort(name: string, v: number, allowZero: boolean): void {
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 0xffff) throw new PortMappingError(`${name} must be ${allowZero ? 0 : 1}-65535, got ${v}`);
}

/** Mapping request, 12 bytes (§3.3). */
export function encodePmpMapRequest(r: PmpMapRequest): Uint8Array {
  checkPort("internalPort", r.internalPort, false);
  checkPort("suggestedExternalPort", r.suggestedExternalPort, true);
  if (!Number.isInteger(r.lifetimeSeconds) || r.lifetimeSeconds < 0 || r.lifetimeSeconds > 0xffffffff) throw new PortMappingError(`lifetimeSeconds must be a 32-bit count of seconds, got ${r.lifetimeSeconds}`);
  const out = new Uint8Array(12);
  const dv = new DataView(out.buffer);
  out[0] = NAT_PMP_VERSION;
  out[1] = r.protocol === "TCP" ? PmpOp.MAP_TCP : PmpOp.MAP_UDP;
  dv.setUint16(4, r.internalPort);
  dv.setUint16(6, r.suggestedExternalPort);
  dv.setUint32(8, r.lifetimeSeconds);
  return out;
}

/** A decoded answer. `op` is the request opcode it answers (answer opcode - 128). */
export type PmpResponse =
  | { op: number; result: number; epoch: number; kind: "error" }
  | { op: 0; result: 0; epoch: number; kind: "external-address"; externalIp: string }
  | { op: 1 | 2; result: 0; epoch: number; kind: "map"; protocol: "TCP" | "UDP"; internalPort: number; externalPort: number; lifetimeSeconds: number };

/**
 * Decodes a server answer. Returns undefined for anything that is not a
 * NAT-PMP answer (wrong version, a request, too short) so a caller can ignore
 * stray datagrams. A non-zero result code decodes as kind "error" (an error
 * answer may be only 8 bytes long, §3.5).
 */
export function decodePmpResponse(buf: Uint8Array): PmpResponse | undefined {
  if (buf.length < 8 || buf[0] !== NAT_PMP_VERSION || buf[1] < 128) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const op = buf[1] - 128;
  const result = dv.getUint16(2);
  const epoch = dv.getUint32(4);
  if (result !== PmpResult.SUCCESS) return { op, result, epoch, kind: "error" };
  if (op === PmpOp.EXTERNAL_ADDRESS) {
    if (buf.length < 12) return undefined;
    return { op, result: 0, epoch, kind: "external-address", externalIp: `${buf[8]}.${buf[9]}.${buf[10]}.${buf[11]}` };
  }
  if (op === PmpOp.MAP_UDP || op === PmpOp.MAP_TCP) {
    if (buf.length < 16) return undefined;
    return { op, result: 0, epoch, kind: "map", protocol: op === PmpOp.MAP_TCP ? "TCP" : "UDP", internalPort: dv.getUint16(8), externalPort: dv.getUint16(10), lifetimeSeconds: dv.getUint32(12) };
  }
  return undefined;
}
