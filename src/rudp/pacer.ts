/**
 * A token bucket that paces packets at a rate (packets per ms), with a burst
 * of at most two packets or two ms' worth. Pure: the caller asks with the
 * current time and sets a timer for the wait it is told.
 */
export class Pacer {
  #tokens = 0;
  #at = 0;

  /** 0 when a packet may go now (and takes a token), else the ms to wait. Infinite rates never wait. */
  wait(rate: number, now: number): number {
    if (!Number.isFinite(rate)) return 0;
    this.#tokens = Math.min(this.#tokens + (now - this.#at) * rate, Math.max(2, rate * 2));
    this.#at = now;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - this.#tokens) / rate));
  }
}
