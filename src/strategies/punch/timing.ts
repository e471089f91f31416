/**
 * Start-time arithmetic for simultaneous open (pure). The peer's clock and the
 * signaling round trip come from a few ping/pong rounds over signaling
 * (NTP-style, RFC 5905 §8): peerClock ≈ ourClock + offsetMs. The sample with
 * the smallest round trip has the smallest offset error (|error| ≤ rtt / 2),
 * so it is the one used, as NTP's clock filter does.
 */

export interface ClockSample {
  rttMs: number;
  /** peerClock − ourClock, ms. */
  offsetMs: number;
}

/** The sample to trust: smallest round trip (first one on ties). Undefined for none. */
export function bestClockSample(samples: readonly ClockSample[]): ClockSample | undefined {
  let best: ClockSample | undefined;
  for (const s of samples) {
    if (!Number.isFinite(s.rttMs) || !Number.isFinite(s.offsetMs)) continue;
    if (!best || s.rttMs < best.rttMs) best = s;
  }
  return best;
}

export interface ProposeStartInput {
  /** Our clock now (ms since the epoch). */
  now: number;
  clock: ClockSample;
  /** What the responder has to do before it can reply (learn its mappings), ms. */
  responderPrepMs: number;
  /** Slack for jitter and event-loop delays, ms. */
  marginMs: number;
}

/**
 * Start time the initiator proposes, in the PEER's clock: the request reaches
 * the peer (rtt/2), the peer prepares, its reply comes back (rtt/2), plus margin.
 */
export function proposeStart(i: ProposeStartInput): number {
  return i.now + i.clock.offsetMs + i.clock.rttMs + i.responderPrepMs + i.marginMs;
}

/**
 * Start time the responder agrees to, in its own clock: the proposal, unless
 * its reply could not reach the initiator by then (one way = rtt/2 + margin).
 */
export function agreeStart(proposed: number, now: number, rttMs: number, marginMs: number): number {
  return Math.max(proposed, now + rttMs / 2 + marginMs);
}

/** A peer-clock time in our clock. */
export const toLocalClock = (peerTime: number, clock: ClockSample): number => peerTime - clock.offsetMs;
