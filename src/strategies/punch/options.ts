/**
 * PunchStrategy's options: every default in one frozen object, validated
 * once with InvalidArgumentError naming the option (they are the caller's).
 */
import { InvalidArgumentError } from "../../errors.ts";

export interface PunchOptions {
  /** Total deadline of one punch, from dial() to the nominated socket (ms); room for the kernel's SYN retransmits (+1 s, +3 s, +7 s) on lossy paths. @default 10000 */
  timeout: number;
  /** Punch ports per side (each learns its mapping over TCP STUN). @default 1 */
  ports: number;
  /** Ports predicted after the last mapping of a sequential NAT. @default 6 */
  predict: number;
  /** Ping/pong rounds over signaling to estimate offset and round trip. @default 3 */
  pings: number;
  /** Slack added to the proposed start for jitter and event-loop delays (ms). @default 40 */
  marginMs: number;
  /** Pause before the first re-dial of a refused SYN (ms, ±50 % jitter); each later one waits `retryBackoff` times longer. @default 15 */
  retryDelayMs: number;
  /** Growth factor of the re-dial pause (1-10). @default 2 */
  retryBackoff: number;
  /**
   * SYN attempts per (punch port, target) pair, the first included (1-16). Re-dials only
   * answer a refusal (our SYN beat the peer's); dropped SYNs are retransmitted by the kernel. @default 4
   */
  maxAttemptsPerTarget: number;
  /** SYN attempts in one punch, over every pair (1-1024): what one request can make us send. @default 64 */
  maxSynsPerPunch: number;
  /** SYNs one destination IP may get at once, over every punch of this node and every requester. @default 64 */
  synBudgetBurst: number;
  /** SYNs per second that budget refills with, per destination IP. @default 2 */
  synBudgetPerSecond: number;
  /** Destination IPs the budget tracks at most (memory bound). @default 4096 */
  synBudgetIps: number;
}

export const PUNCH_DEFAULTS: Readonly<PunchOptions> = Object.freeze({
  timeout: 10_000,
  ports: 1,
  predict: 6,
  pings: 3,
  marginMs: 40,
  retryDelayMs: 15,
  retryBackoff: 2,
  maxAttemptsPerTarget: 4,
  maxSynsPerPunch: 64,
  synBudgetBurst: 64,
  synBudgetPerSecond: 2,
  synBudgetIps: 4096,
});

/** Integer options and their ranges (the rest are any non-negative number). */
const INTEGER_RANGES: Partial<Record<keyof PunchOptions, [number, number]>> = {
  ports: [1, 4],
  predict: [0, 16],
  pings: [1, 10],
  maxAttemptsPerTarget: [1, 16],
  maxSynsPerPunch: [1, 1024],
  synBudgetBurst: [1, 100_000],
  synBudgetIps: [1, 1_000_000],
};

/** The defaults with `options` over them, validated; a new frozen object (never the caller's). */
export function resolvePunchOptions(options: Partial<PunchOptions>): Readonly<PunchOptions> {
  const o = { ...PUNCH_DEFAULTS, ...options };
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new InvalidArgumentError(`punch.${k} must be a non-negative number`);
    const range = INTEGER_RANGES[k as keyof PunchOptions];
    if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) throw new InvalidArgumentError(`punch.${k} must be an integer ${range[0]}-${range[1]}`);
  }
  if (o.timeout < 500 || o.timeout > 30_000) throw new InvalidArgumentError("punch.timeout must be 500-30000 ms");
  if (o.retryBackoff < 1 || o.retryBackoff > 10) throw new InvalidArgumentError("punch.retryBackoff must be 1-10");
  if (o.synBudgetPerSecond <= 0) throw new InvalidArgumentError("punch.synBudgetPerSecond must be positive");
  return Object.freeze(o);
}
