/**
 * The sender's scoreboard (pure): every packet sent and not yet acked, what
 * the acks and SACK ranges said about it, and RACK loss detection (RFC 8985):
 * a packet is lost once a packet sent after it was delivered and it has been
 * out longer than that one's RTT plus a reordering window (a quarter of the
 * minimum RTT). Time-based, so reordering does not trigger retransmits, and a
 * retransmission is judged by its own send time.
 */
import type { Packet } from "./packet.ts";

export interface Sent {
  payload?: Uint8Array;
  fin: boolean;
  sentAt: number;
  /** Packets delivered, and when the last was, at the time this one was (last) sent: its rate sample's start. */
  delivered?: number;
  deliveredAt?: number;
  /** Send time of the most recently sent packet known delivered when this one was sent. */
  firstSentAt?: number;
  retransmitted: boolean;
  sacked: boolean;
  lost: boolean;
}

export interface AckResult {
  /** Packets newly acked or SACKed. */
  newly: number;
  /** An RTT sample from a packet sent once (Karn's rule). */
  sample?: number;
  /** The FIN we sent is acked. */
  finAcked: boolean;
  /** A delivery-rate sample from the most recently sent packet this ack delivered. */
  rate?: { rate: number; rttMs: number; newRound: boolean };
}

export class Scoreboard {
  /** The next packet number to use. */
  nextSeq = 1;
  /** The oldest packet number not cumulatively acked. */
  una = 1;
  /** Payload bytes sent and not acked. */
  unackedBytes = 0;
  readonly #inflight = new Map<number, Sent>();
  /** Packets in the network: sent, not acked, not SACKed, not marked lost. */
  #inPipe = 0;
  /** Marked lost, oldest first (entries may have been acked since). */
  #lost: number[] = [];
  #rackXmit = -Infinity;
  #rackRtt = 0;
  #minRtt = Infinity;
  /** RACK's reordering window in quarters of the minimum RTT; grows on each spurious retransmission seen. */
  #reoMult = 1;
  /** Retransmissions that turned out unneeded (the original arrived). */
  spurious = 0;
  #delivered = 0;
  #deliveredAt = 0;
  #firstSentAt = 0;
  /** A round ends when a packet sent at or after this number is delivered. */
  #roundStart = 1;

  get pipe(): number {
    return this.#inPipe;
  }

  get size(): number {
    return this.#inflight.size;
  }

  get(seq: number): Sent | undefined {
    return this.#inflight.get(seq);
  }

  /** Records a new packet (sent now by the caller); returns its number. */
  add(e: Sent): number {
    const seq = this.nextSeq++;
    e.delivered = this.#delivered;
    e.deliveredAt = this.#deliveredAt || e.sentAt;
    e.firstSentAt = this.#firstSentAt || e.sentAt;
    this.#inflight.set(seq, e);
    this.unackedBytes += e.payload?.length ?? 0;
    this.#inPipe++;
    return seq;
  }

  /** The caller resends packet `seq` now. */
  resent(seq: number, now: number): void {
    const e = this.#inflight.get(seq);
    if (!e) return;
    e.retransmitted = true;
    e.lost = false;
    e.sentAt = now;
    e.delivered = this.#delivered;
    e.deliveredAt = this.#deliveredAt || now;
    e.firstSentAt = this.#firstSentAt || now;
    this.#inPipe++;
    if (this.#lost[0] === seq) this.#lost.shift();
  }

  /** Applies a packet's cumulative ack and SACK ranges. Acks beyond what we sent are ignored whole. */
  ack(p: Packet, now: number): AckResult {
    const r: AckResult = { newly: 0, finAcked: false };
    if (p.ack > this.nextSeq) return r;
    let newest: { e: Sent; seq: number } | undefined;
    const delivered = (e: Sent, seq: number) => {
      // Acked sooner after its retransmission than any round trip takes: the original got
      // there, the path reordered. Widen the reordering window (RFC 8985 §6.2 does it on DSACK).
      if (e.retransmitted && Number.isFinite(this.#minRtt) && now - e.sentAt < this.#minRtt / 2) {
        this.spurious++;
        this.#reoMult = Math.min(this.#reoMult + 1, 16);
      }
      if (e.sentAt > this.#rackXmit) {
        this.#rackXmit = e.sentAt;
        this.#rackRtt = now - e.sentAt;
      }
      if (!e.retransmitted && r.sample === undefined) r.sample = now - e.sentAt;
      r.newly++;
      this.#delivered++;
      // Rate samples only from packets sent once: a retransmission's interval starts late
      // and would count deliveries of packets sent before it (a much too fast path).
      if (!e.retransmitted && (!newest || e.sentAt > newest.e.sentAt)) newest = { e, seq };
    };
    for (let s = this.una; s < p.ack; s++) {
      const e = this.#inflight.get(s);
      if (!e) continue;
      if (!e.sacked) delivered(e, s);
      this.#inflight.delete(s);
      if (!e.sacked && !e.lost) this.#inPipe--;
      this.unackedBytes -= e.payload?.length ?? 0;
      if (e.fin) r.finAcked = true;
    }
    if (p.ack > this.una) this.una = p.ack;
    for (const range of p.sack) {
      for (let s = Math.max(range.first, this.una); s < Math.min(range.end, this.nextSeq); s++) {
        const e = this.#inflight.get(s);
        if (!e || e.sacked) continue;
        if (!e.lost) this.#inPipe--;
        e.sacked = true;
        delivered(e, s);
      }
    }
    if (r.sample !== undefined) this.#minRtt = Math.min(this.#minRtt, r.sample);
    if (newest) {
      const { e, seq } = newest;
      // The slower of the send and the ack intervals: acks that arrive bunched (after a loss
      // is repaired, say) must not read as a faster path (draft-cheng-iccrg-delivery-rate-estimation).
      const interval = Math.max(now - (e.deliveredAt ?? now), e.sentAt - (e.firstSentAt ?? e.sentAt));
      const newRound = seq >= this.#roundStart;
      if (newRound) this.#roundStart = this.nextSeq;
      this.#deliveredAt = now;
      this.#firstSentAt = e.sentAt;
      // Karn's rule for the model too: a retransmitted packet's RTT is ambiguous (0 = none).
      const rttMs = e.retransmitted ? 0 : now - e.sentAt;
      r.rate = { rate: interval > 0 ? (this.#delivered - (e.delivered ?? 0)) / interval : 0, rttMs, newRound };
    }
    return r;
  }

  /** Marks what RACK says is lost; returns whether any was, and how long until the next candidate is due. */
  detectLoss(now: number): { lost: number; waitMs: number } {
    let lost = 0;
    let waitMs = Infinity;
    if (this.#rackXmit === -Infinity) return { lost, waitMs };
    const reoWnd = Number.isFinite(this.#minRtt) ? Math.min((this.#reoMult * this.#minRtt) / 4, this.#rackRtt) : 0;
    for (const [s, e] of this.#inflight) {
      if (e.sacked || e.lost || e.sentAt >= this.#rackXmit) continue;
      const left = e.sentAt + this.#rackRtt + reoWnd - now;
      if (left <= 0) {
        this.#markLost(s, e);
        lost++;
      } else waitMs = Math.min(waitMs, left);
    }
    return { lost, waitMs };
  }

  /** After a timeout everything not SACKed is presumed lost. */
  markAllLost(): void {
    for (const [s, e] of this.#inflight) this.#markLost(s, e);
  }

  /** The oldest packet marked lost and not since delivered. */
  firstLost(): number | undefined {
    while (this.#lost.length) {
      const s = this.#lost[0];
      const e = this.#inflight.get(s);
      if (e && e.lost && !e.sacked) return s;
      this.#lost.shift();
    }
    return undefined;
  }

  #markLost(s: number, e: Sent): void {
    if (e.lost || e.sacked) return;
    e.lost = true;
    this.#inPipe--;
    this.#lost.push(s);
  }
}
