/**
 * Admission of inbound connections into the handshake (docs/protocol.md,
 * "Pending handshakes"). A pending handshake costs a socket, a timer and, once
 * HELLO arrived, an X25519 agreement and a signature; without limits 1,024
 * idle sockets from one host used to lock every other peer out.
 *
 * - At most `maxPending` pending overall.
 * - A source is an IPv4 address or an IPv6 /64 (one host usually owns a whole
 *   /64, so counting addresses would not limit it). `maxPerSource` is the
 *   share each source keeps when the table is full: while there is room any
 *   source may use it (one legitimate host may open hundreds of pipes at
 *   once), but when full a source at its share cannot displace anyone, and
 *   connections of a source over its share are the first to go.
 * - When full, a new connection from a source under its share replaces, in
 *   this order: the oldest connection of an over-share source that has not
 *   sent its first handshake message; the oldest of an over-share source; the
 *   oldest connection that has not sent its first message (a real initiator
 *   sends HELLO at once, so an idle one is the likeliest attacker and the
 *   cheapest to drop). Only when none exists is it refused: so one source can
 *   never lock another out, and filling the table takes maxPending /
 *   maxPerSource sources that each complete the first message.
 *
 * `decideAdmission` is the pure decision; `HandshakeAdmission` keeps the counts.
 */
import { InvalidArgumentError } from "../errors.ts";
import { ipv4ToBytes, ipv6ToBytes } from "../util/ip.ts";

export interface AdmissionLimits {
  /** Handshakes in progress at once, from all sources. */
  maxPending: number;
  /** Handshakes in progress at once from one IPv4 address or one IPv6 /64. */
  maxPerSource: number;
}

export const ADMISSION_DEFAULTS: Readonly<AdmissionLimits> = Object.freeze({ maxPending: 1024, maxPerSource: 16 });

export function resolveAdmissionLimits(limits: Partial<AdmissionLimits> = {}): AdmissionLimits {
  const o = { ...ADMISSION_DEFAULTS, ...limits };
  for (const [k, v] of Object.entries(o)) {
    if (!Number.isSafeInteger(v) || v < 1) throw new InvalidArgumentError(`handshake admission limit ${k} must be a positive integer, got ${String(v)}`);
  }
  return o;
}

/**
 * The key a connection is counted under: the IPv4 address (also when written
 * IPv4-mapped, "::ffff:a.b.c.d", as a dual-stack server reports it), or the
 * IPv6 /64 as "2001:db8:1:2::/64". Undefined when `address` is not an IP
 * (a socket that closed before it was seen has none).
 */
export function sourceKey(address: string | undefined): string | undefined {
  if (!address) return undefined;
  if (ipv4ToBytes(address)) return address;
  const b = ipv6ToBytes(address);
  if (!b) return undefined;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return `${groups.join(":")}::/64`;
}

/** What is pending, as far as one decision needs to know. */
export interface AdmissionState<T> {
  /** Pending handshakes, all sources. */
  total: number;
  /** Pending handshakes from the new connection's source. */
  fromSource: number;
  /** The oldest connection of a source over its share that has not sent its first message. */
  overShareIdle?: T;
  /** The oldest connection of a source over its share. */
  overShare?: T;
  /** The oldest connection that has not sent its first message. */
  idle?: T;
}

export type AdmissionDecision<T> =
  | { admit: true; shed?: T }
  | { admit: false; reason: "no-source" | "source-limit" | "full" };

/** Pure: whether a new connection from a source may start a handshake, and whom it displaces. */
export function decideAdmission<T>(source: string | undefined, state: AdmissionState<T>, limits: AdmissionLimits): AdmissionDecision<T> {
  if (source === undefined) return { admit: false, reason: "no-source" };
  if (state.total < limits.maxPending) return { admit: true };
  if (state.fromSource >= limits.maxPerSource) return { admit: false, reason: "source-limit" };
  const victim = state.overShareIdle ?? state.overShare ?? state.idle;
  if (victim !== undefined) return { admit: true, shed: victim };
  return { admit: false, reason: "full" };
}

interface Entry {
  source: string;
  /** True until the first handshake message arrived. */
  idle: boolean;
}

/** The pending handshakes of one node, keyed by connection (oldest first). */
export class HandshakeAdmission<T> {
  readonly limits: AdmissionLimits;
  // A Map iterates in insertion order: the first idle entry is the oldest idle one.
  readonly #entries = new Map<T, Entry>();
  readonly #perSource = new Map<string, number>();
  /** Connections refused so far (per-source limit, full, no address). */
  refused = 0;
  /** Idle connections closed to make room so far. */
  shed = 0;

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = resolveAdmissionLimits(limits);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Pending handshakes counted under `source` (a sourceKey). */
  countFrom(source: string): number {
    return this.#perSource.get(source) ?? 0;
  }

  /**
   * Decides on `conn` from `address` and, if admitted, records it. A shed
   * connection is forgotten here; the caller must close it.
   */
  admit(conn: T, address: string | undefined): AdmissionDecision<T> {
    const source = sourceKey(address);
    const decision = decideAdmission(source, { total: this.#entries.size, fromSource: source ? this.countFrom(source) : 0, ...this.#victims() }, this.limits);
    if (!decision.admit) {
      this.refused++;
      return decision;
    }
    if (decision.shed !== undefined) {
      this.shed++;
      this.release(decision.shed);
    }
    this.#entries.set(conn, { source: source!, idle: true });
    this.#perSource.set(source!, this.countFrom(source!) + 1);
    return decision;
  }

  /** The connection sent its first handshake message: it can no longer be shed. */
  firstMessage(conn: T): void {
    const e = this.#entries.get(conn);
    if (e) e.idle = false;
  }

  /** The handshake ended (either way). Idempotent. */
  release(conn: T): void {
    const e = this.#entries.get(conn);
    if (!e) return;
    this.#entries.delete(conn);
    const n = this.countFrom(e.source) - 1;
    if (n > 0) this.#perSource.set(e.source, n);
    else this.#perSource.delete(e.source);
  }

  /** The candidates to displace; only needed when full: one scan of at most maxPending entries. */
  #victims(): Pick<AdmissionState<T>, "overShareIdle" | "overShare" | "idle"> {
    if (this.#entries.size < this.limits.maxPending) return {};
    let overShare: T | undefined;
    let idle: T | undefined;
    for (const [conn, e] of this.#entries) {
      const over = this.countFrom(e.source) > this.limits.maxPerSource;
      if (over && e.idle) return { overShareIdle: conn, overShare, idle };
      if (over) overShare ??= conn;
      if (e.idle) idle ??= conn;
    }
    return { overShare, idle };
  }
}
