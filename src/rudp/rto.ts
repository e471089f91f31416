/**
 * Retransmission timeout (RFC 6298): SRTT and RTTVAR from samples of packets
 * sent once only (Karn's rule is the caller's: never sample a retransmitted
 * packet), RTO = SRTT + max(G, 4·RTTVAR), clamped, doubled on each timeout
 * and reset by the next valid sample. Pure.
 */
export interface RtoOptions {
  /** @default 1000 (RFC 6298 §2.1, before any sample) */
  initialMs?: number;
  /** Lower clamp. RFC 6298 says 1 s; like most stacks we use 200 ms. @default 200 */
  minMs?: number;
  /** @default 60000 */
  maxMs?: number;
  /** Clock granularity G. @default 1 */
  granularityMs?: number;
}

export class RtoEstimator {
  srtt?: number;
  rttvar?: number;
  #rto: number;
  #backoff = 1;
  readonly #min: number;
  readonly #max: number;
  readonly #g: number;

  constructor(o: RtoOptions = {}) {
    this.#rto = o.initialMs ?? 1000;
    this.#min = o.minMs ?? 200;
    this.#max = o.maxMs ?? 60_000;
    this.#g = o.granularityMs ?? 1;
  }

  /** A round-trip sample (ms) of a packet sent exactly once. */
  sample(rttMs: number): void {
    if (!(rttMs >= 0) || !Number.isFinite(rttMs)) return;
    if (this.srtt === undefined || this.rttvar === undefined) {
      this.srtt = rttMs;
      this.rttvar = rttMs / 2;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - rttMs);
      this.srtt = 0.875 * this.srtt + 0.125 * rttMs;
    }
    this.#rto = this.srtt + Math.max(this.#g, 4 * this.rttvar);
    this.#backoff = 1;
  }

  /** The timer expired: back off (×2, up to the maximum). */
  backoff(): void {
    this.#backoff = Math.min(this.#backoff * 2, 1 << 16);
  }

  /** The current timeout in ms, with backoff and clamps applied. */
  get rto(): number {
    return Math.min(this.#max, Math.max(this.#min, this.#rto) * this.#backoff);
  }

  /** Consecutive timeouts since the last valid sample (log2 of the backoff). */
  get timeouts(): number {
    return Math.log2(this.#backoff);
  }
}
