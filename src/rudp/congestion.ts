/**
 * NewReno congestion control in packets (RFC 5681, RFC 6582), pure: slow
 * start to ssthresh, then one packet per window per round trip; fast
 * recovery on loss, which halves the window once per window of data; a
 * timeout collapses it to one packet. The sender asks `canSend(inFlight)`.
 */
export interface CongestionOptions {
  /** Initial window in packets (RFC 6928 allows 10). @default 10 */
  initialWindow?: number;
  /** Never below this. @default 2 */
  minWindow?: number;
  /** Cap (and the initial ssthresh). @default 4096 */
  maxWindow?: number;
}

export class NewReno {
  cwnd: number;
  ssthresh: number;
  /** Fast recovery ends when the cumulative ack passes this packet number. */
  recoverUntil?: number;
  readonly #min: number;
  readonly #max: number;
  #acc = 0;

  constructor(o: CongestionOptions = {}) {
    this.cwnd = o.initialWindow ?? 10;
    this.#min = o.minWindow ?? 2;
    this.#max = o.maxWindow ?? 4096;
    this.ssthresh = this.#max;
  }

  get inRecovery(): boolean {
    return this.recoverUntil !== undefined;
  }

  canSend(inFlight: number): boolean {
    return inFlight < Math.floor(this.cwnd);
  }

  /** `n` packets newly acknowledged; `cumAck` is the new cumulative ack. */
  onAck(n: number, cumAck: number): void {
    if (this.recoverUntil !== undefined) {
      if (cumAck > this.recoverUntil) {
        this.recoverUntil = undefined;
        this.cwnd = Math.max(this.ssthresh, this.#min);
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      if (this.cwnd < this.ssthresh) this.cwnd += 1;
      else {
        this.#acc += 1;
        if (this.#acc >= this.cwnd) {
          this.#acc = 0;
          this.cwnd += 1;
        }
      }
    }
    this.cwnd = Math.min(this.cwnd, this.#max);
  }

  /** A loss seen by SACK / duplicate acks; `highestSent` is the last packet number sent. Once per window. */
  onLoss(inFlight: number, highestSent: number): boolean {
    if (this.recoverUntil !== undefined) return false;
    this.ssthresh = Math.max(Math.floor(inFlight / 2), this.#min);
    this.cwnd = this.ssthresh;
    this.recoverUntil = highestSent;
    return true;
  }

  /** The retransmission timer expired. */
  onTimeout(inFlight: number): void {
    this.ssthresh = Math.max(Math.floor(inFlight / 2), this.#min);
    this.cwnd = 1;
    this.recoverUntil = undefined;
    this.#acc = 0;
  }
}
