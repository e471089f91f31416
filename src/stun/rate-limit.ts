/**
 * Per-source token buckets for the embedded STUN server (docs/stun.md
 * "Exposure"). Pure: time is passed in, nothing is scheduled.
 *
 * A source is an IPv4 address or an IPv6 /64: one IPv6 host usually owns a
 * whole /64, so limiting single IPv6 addresses would limit nothing.
 *
 * The map of buckets is bounded. A bucket that has refilled completely is
 * the same as a new one, so it may be forgotten; when every slot holds a
 * partly used bucket, a new source is refused rather than growing the map
 * (under a flood of spoofed sources, refusing is what we want anyway).
 */
import { InvalidArgumentError } from "../errors.ts";
import { TokenBucket, type BucketOptions } from "../util/token-bucket.ts";
import { ipToBytes } from "./ip.ts";

export type { BucketOptions } from "../util/token-bucket.ts";

/** How many of the least recently used buckets one insertion may inspect for eviction (keeps a full map O(1) per packet). */
const EVICT_SCAN = 32;

/** Validates a bucket option; throws InvalidArgumentError naming `name`. */
export function checkBucket(name: string, b: BucketOptions | undefined): BucketOptions {
  if (typeof b !== "object" || b === null) throw new InvalidArgumentError(`${name} must be { capacity, refillPerSecond }`);
  if (typeof b.capacity !== "number" || !Number.isFinite(b.capacity) || b.capacity < 1) throw new InvalidArgumentError(`${name}.capacity must be a finite number >= 1, got ${b.capacity}`);
  if (typeof b.refillPerSecond !== "number" || !Number.isFinite(b.refillPerSecond) || b.refillPerSecond < 0) {
    throw new InvalidArgumentError(`${name}.refillPerSecond must be a finite number >= 0, got ${b.refillPerSecond}`);
  }
  return { capacity: b.capacity, refillPerSecond: b.refillPerSecond };
}

/**
 * The key a source is limited by: the IPv4 address (also when written as
 * IPv4-mapped IPv6), or the first 64 bits of an IPv6 address as "xxxx:xxxx:xxxx:xxxx::/64".
 * Anything that is not an IP literal is its own key.
 */
export function sourceKey(ip: string): string {
  let a = ip;
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  if (a.toLowerCase().startsWith("::ffff:") && /^\d+\.\d+\.\d+\.\d+$/.test(a.slice(7))) a = a.slice(7);
  const b = ipToBytes(a);
  if (!b) return ip;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  // ::ffff:0:0/96 in byte form (e.g. "::ffff:7f00:1"): the IPv4 host it names.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const g = (i: number) => ((b[i] << 8) | b[i + 1]).toString(16);
  return `${g(0)}:${g(2)}:${g(4)}:${g(6)}::/64`;
}

/** One token bucket per source, at most `maxSources` of them. */
export class SourceLimiter {
  readonly #bucket: BucketOptions;
  readonly #max: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(bucket: BucketOptions, maxSources: number) {
    this.#bucket = checkBucket("bucket", bucket);
    if (!Number.isInteger(maxSources) || maxSources < 1) throw new InvalidArgumentError(`maxSources must be an integer >= 1, got ${maxSources}`);
    this.#max = maxSources;
  }

  /** Sources currently tracked. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for the source of `ip` at `now` (ms); false when it has none left or the map is full. */
  take(ip: string, now: number): boolean {
    const key = sourceKey(ip);
    let bucket = this.#buckets.get(key);
    if (bucket) {
      // Re-inserting keeps the Map in least-recently-used order, so eviction looks at cold sources first.
      this.#buckets.delete(key);
    } else {
      if (this.#buckets.size >= this.#max) this.#evict(now);
      if (this.#buckets.size >= this.#max) return false;
      bucket = new TokenBucket(this.#bucket, now);
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now);
  }

  #evict(now: number): void {
    let seen = 0;
    for (const [k, b] of this.#buckets) {
      if (seen++ >= EVICT_SCAN) break;
      if (b.isFull(now)) this.#buckets.delete(k);
    }
  }
}
