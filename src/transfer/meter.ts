/**
 * Progress for people: bytes, rate and time left, from byte counts and an
 * injected clock. Pure (no I/O); the CLI and the example draw it.
 */
import type { Clock } from "../util/clock.ts";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) (v /= 1024), i++;
  return i === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

/** Seconds → "42 s", "3 min 05 s", "2 h 10 min"; "?" when unknown. */
export function formatEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "?";
  const t = Math.round(s);
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min ${String(t % 60).padStart(2, "0")} s`;
  return `${Math.floor(t / 3600)} h ${String(Math.floor((t % 3600) / 60)).padStart(2, "0")} min`;
}

export interface MeterReading {
  done: number;
  total: number;
  /** Bytes per second over the recent window (0 before two samples). */
  rate: number;
  /** Seconds left at that rate (Infinity when unknown). */
  eta: number;
}

/** Rate over a sliding window of samples (`windowMs`), so a stall shows at once. */
export class Meter {
  readonly #clock: Clock;
  readonly #windowMs: number;
  #samples: Array<{ t: number; done: number }> = [];
  #total = 0;

  constructor(clock: Clock, windowMs = 3000) {
    this.#clock = clock;
    this.#windowMs = windowMs;
  }

  update(done: number, total: number): MeterReading {
    const t = this.#clock.now();
    this.#total = total;
    this.#samples.push({ t, done });
    while (this.#samples.length > 2 && t - this.#samples[1]!.t >= this.#windowMs) this.#samples.shift();
    return this.read();
  }

  read(): MeterReading {
    const s = this.#samples;
    const last = s[s.length - 1] ?? { t: 0, done: 0 };
    const first = s[0] ?? last;
    const dt = (last.t - first.t) / 1000;
    const rate = dt > 0 ? Math.max(0, (last.done - first.done) / dt) : 0;
    const left = this.#total - last.done;
    return { done: last.done, total: this.#total, rate, eta: left <= 0 ? 0 : rate > 0 ? left / rate : Infinity };
  }
}

/** "12.0 MiB / 100 MiB  12%  8.0 MiB/s  ETA 11 s". */
export function progressText(r: MeterReading): string {
  const pct = r.total > 0 ? Math.floor((r.done / r.total) * 100) : 100;
  return `${formatBytes(r.done)} / ${formatBytes(r.total)}  ${pct}%  ${formatBytes(Math.round(r.rate))}/s  ETA ${formatEta(r.eta)}`;
}
