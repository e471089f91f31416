/**
 * A model-based congestion controller in the manner of BBR (Cardwell et al.,
 * ACM Queue 2016), pure and in packets: it estimates the bottleneck rate (the
 * maximum delivery rate of recent rounds) and the round-trip propagation time
 * (the minimum RTT of the last 10 s), paces at gain × rate and caps the data
 * in flight at 2 × their product. Random loss does not shrink the window, so
 * a relayed path that drops 10 % of its datagrams keeps its rate, where a
 * loss-based controller (NewReno) falls to the Mathis limit. Startup doubles
 * the rate each round until it stops growing by 25 % for three rounds, drain
 * empties the queue that built, then the rate is probed in an eight-phase
 * cycle (1.25, 0.75, then 1 × 6).
 */
export interface RateSample {
  /** Packets delivered per ms over the sample's interval. */
  rate: number;
  /** RTT of the packet that produced the sample (ms). */
  rttMs: number;
  /** The packet was sent at or after the current round started. */
  newRound: boolean;
}

const STARTUP_GAIN = 2.885;
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const CWND_GAIN = 2;
const MIN_WINDOW = 4;
const MIN_RTT_WINDOW_MS = 10_000;
const BW_WINDOW_ROUNDS = 10;
/**
 * Startup ends early on a round that loses more than this share of what it
 * delivered. BBRv2 uses 2 %; a relayed path with random loss of 5-10 % would
 * then never leave the initial rate, while overflowing a queue at 2.9× the
 * rate loses far more than 15 %.
 */
const LOSSY_ROUND = 0.15;

export type BbrMode = "startup" | "drain" | "probe-bw";

export class Bbr {
  mode: BbrMode = "startup";
  /** Max delivery rate (packets/ms) over the last BW_WINDOW_ROUNDS rounds. */
  btlBw = 0;
  minRtt = Infinity;
  #minRttAt = 0;
  #samples: Array<{ round: number; rate: number }> = [];
  #round = 0;
  #fullBw = 0;
  #fullCount = 0;
  #cycleIndex = 0;
  #cycleStart = 0;
  #roundLost = 0;
  #roundDelivered = 0;
  readonly #initialWindow: number;

  constructor(initialWindow = 10) {
    this.#initialWindow = initialWindow;
  }

  /** Packets we may have in flight. */
  get cwnd(): number {
    if (this.btlBw === 0 || !Number.isFinite(this.minRtt)) return this.#initialWindow;
    const gain = this.mode === "startup" ? STARTUP_GAIN : CWND_GAIN;
    return Math.max(MIN_WINDOW, Math.ceil(gain * this.btlBw * this.minRtt));
  }

  /** Packets per ms to pace at (Infinity before the first sample: the initial window goes out at once). */
  get pacingRate(): number {
    if (this.btlBw === 0) return Infinity;
    return this.#pacingGain() * this.btlBw;
  }

  canSend(inFlight: number): boolean {
    return inFlight < this.cwnd;
  }

  /** One rate sample per ack that delivered something; `inFlight` after it. */
  onSample(s: RateSample, inFlight: number, now: number, delivered = 1): void {
    this.#roundDelivered += delivered;
    if (s.rttMs > 0 && (s.rttMs <= this.minRtt || now - this.#minRttAt > MIN_RTT_WINDOW_MS)) {
      this.minRtt = s.rttMs;
      this.#minRttAt = now;
    }
    if (s.newRound) this.#round++;
    if (s.rate > 0 && Number.isFinite(s.rate)) {
      this.#samples.push({ round: this.#round, rate: s.rate });
      this.#samples = this.#samples.filter((x) => x.round > this.#round - BW_WINDOW_ROUNDS);
      this.btlBw = Math.max(...this.#samples.map((x) => x.rate));
    }
    if (s.newRound) this.#onRound(inFlight, now);
    if (this.mode === "drain" && inFlight <= this.btlBw * this.minRtt) this.#enterProbe(now);
    if (this.mode === "probe-bw" && Number.isFinite(this.minRtt) && now - this.#cycleStart > this.minRtt) {
      // The 0.75 phase ends early once the queue it drains is gone.
      this.#cycleIndex = (this.#cycleIndex + 1) % CYCLE.length;
      this.#cycleStart = now;
    }
  }

  /**
   * Loss does not shrink the window (random loss says nothing about the
   * path's rate), with one exception in the manner of BBRv2: startup ends
   * once a round loses more than LOSSY_ROUND of what it delivered, since then
   * it is overflowing a shallow queue rather than finding the rate.
   */
  onLoss(packets: number): void {
    this.#roundLost += packets;
  }

  /** A timeout: the model may be stale, start over from the initial window. */
  onTimeout(): void {
    this.btlBw = 0;
    this.#samples = [];
    this.mode = "startup";
    this.#fullBw = 0;
    this.#fullCount = 0;
  }

  #onRound(inFlight: number, now: number): void {
    const lossy = this.#roundLost > Math.max(8, LOSSY_ROUND * this.#roundDelivered);
    this.#roundLost = 0;
    this.#roundDelivered = 0;
    if (this.mode !== "startup") return;
    if (lossy && this.btlBw > 0) {
      this.mode = "drain";
      if (inFlight <= this.btlBw * this.minRtt) this.#enterProbe(now);
      return;
    }
    if (this.btlBw >= this.#fullBw * 1.25) {
      this.#fullBw = this.btlBw;
      this.#fullCount = 0;
      return;
    }
    if (++this.#fullCount >= 3) {
      this.mode = "drain";
      if (inFlight <= this.btlBw * this.minRtt) this.#enterProbe(now);
    }
  }

  #enterProbe(now: number): void {
    this.mode = "probe-bw";
    this.#cycleIndex = 2; // start in a cruising phase
    this.#cycleStart = now;
  }

  #pacingGain(): number {
    if (this.mode === "startup") return STARTUP_GAIN;
    if (this.mode === "drain") return 1 / STARTUP_GAIN;
    return CYCLE[this.#cycleIndex];
  }
}
