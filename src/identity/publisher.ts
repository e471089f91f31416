/**
 * The node's own address: the interfaces it publishes, signed with a fresh
 * seq whenever they change (a NAT report, a port mapping), and re-signed on
 * the injected timers before it expires. Knows nothing of where the changes
 * come from; the node feeds them in.
 */
import { encodeAddress, parseAddress, type AddressInterface, type NodeAddress } from "./address.ts";
import type { Identity } from "./identity.ts";
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from "../util/clock.ts";
import { isPrivateOrLocal } from "../util/ip.ts";

export interface PublisherOptions {
  identity: Identity;
  /** Lifetime of each signed address (s). */
  ttl: number;
  signaling: readonly string[];
  relays: readonly string[];
  clock?: Clock;
  timers?: Timers;
  /** Called with the new text on every re-signing after the first. */
  onChange?: (text: string) => void;
}

/** A port mapping as the address shows it. */
export interface PublishedMapping {
  externalIp: string;
  externalPort: number;
  verified: boolean;
}

/** The index of the interface with the default route (the first when none has it, -1 when there are none). */
export function defaultInterfaceIndex(list: readonly AddressInterface[]): number {
  if (!list.length) return -1;
  return Math.max(0, list.findIndex((x) => x.isDefault));
}

/** `itf` carrying `m` (or no mapping): the external port, and the external IP when it is public (pure). */
export function withMapping(itf: AddressInterface, m: PublishedMapping | undefined): AddressInterface {
  const next: AddressInterface = { ...itf, v4: { ...itf.v4, public: [...itf.v4.public] }, mappedPort: m?.externalPort, mappedVerified: m ? m.verified : undefined };
  if (m && !isPrivateOrLocal(m.externalIp) && !next.v4.public.includes(m.externalIp)) next.v4.public.push(m.externalIp);
  return next;
}

export class AddressPublisher {
  readonly #o: PublisherOptions;
  readonly #clock: Clock;
  readonly #timers: Timers;
  #interfaces: AddressInterface[] = [];
  #seq = 0;
  #address?: NodeAddress;
  #refresh?: TimerHandle;
  #stopped = false;

  constructor(o: PublisherOptions) {
    this.#o = o;
    this.#clock = o.clock ?? systemClock;
    this.#timers = o.timers ?? systemTimers;
  }

  /** The current signed address (undefined before the first publish(): the node publishes while it starts). */
  get address(): NodeAddress {
    return this.#address!;
  }

  get interfaces(): readonly AddressInterface[] {
    return this.#interfaces;
  }

  /** Replaces every interface and signs (the first call does not notify). */
  publish(interfaces: AddressInterface[]): void {
    this.#interfaces = [...interfaces];
    this.resign();
  }

  /** Rewrites interface `index` (if it exists) and re-signs, unless told the caller signs once later. */
  update(index: number, fn: (itf: AddressInterface) => AddressInterface, opts: { resign?: boolean } = {}): void {
    const itf = this.#interfaces[index];
    if (!itf) return;
    this.#interfaces[index] = fn(itf);
    if (opts.resign !== false) this.resign();
  }

  /** Signs a fresh address (new seq) and schedules the next refresh before expiry. */
  resign(): void {
    if (this.#stopped) return;
    const ttl = this.#o.ttl;
    const now = this.#clock.now();
    // seq: ms since the epoch, and always above the last one, so an address signed
    // after a restart is newer than every one before it ("newer seq wins", newerAddress()).
    const first = this.#seq === 0;
    this.#seq = Math.max(this.#seq + 1, now);
    const text = encodeAddress(this.#o.identity, {
      seq: this.#seq,
      expires: Math.floor(now / 1000) + ttl,
      interfaces: this.#interfaces,
      signaling: [...this.#o.signaling],
      relays: [...this.#o.relays],
    });
    this.#address = parseAddress(text);
    this.#timers.clearTimeout(this.#refresh);
    this.#refresh = this.#timers.setTimeout(() => this.resign(), Math.max(1000, ttl * 800)); // at 80% of the lifetime
    // A refresh timer alone must not keep the process alive.
    (this.#refresh as { unref?: () => void }).unref?.();
    if (!first) this.#o.onChange?.(text);
  }

  /** Stops re-signing (close()). */
  stop(): void {
    this.#stopped = true;
    this.#timers.clearTimeout(this.#refresh);
    this.#refresh = undefined;
  }
}
