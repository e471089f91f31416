/**
 * A live mapping: holds what the gateway granted, renews it through a
 * protocol driver at half the lease (LeaseKeeper, unref'd timers), and on
 * close() stops renewing and deletes the external port. close() is bounded,
 * idempotent and never throws.
 */
import { EventEmitter } from "node:events";
import type { Clock, Timers } from "../util/clock.ts";
import { LifecycleState } from "../util/closable.ts";
import type { Logger } from "../util/logger.ts";
import { LeaseKeeper } from "./lease.ts";
import type { PortMapping, PortMappingEvents, PortMappingMethod } from "./types.ts";

/** What a protocol (PCP, NAT-PMP, IGD v1/v2) must do for a mapping it created. */
export interface MappingDriver {
  readonly method: PortMappingMethod;
  readonly gateway: string;
  /** Re-requests the mapping (same external port if possible); throws on failure. */
  renew(current: { externalIp: string; externalPort: number }, timeoutMs: number): Promise<{ externalIp: string; externalPort: number; leaseSeconds: number }>;
  /** Deletes the mapping of `externalPort`; throws on failure. */
  remove(current: { externalIp: string; externalPort: number }, timeoutMs: number): Promise<void>;
}

export interface GrantedMapping {
  externalIp: string;
  externalPort: number;
  internalHost: string;
  internalPort: number;
  leaseSeconds: number;
  elapsedMs: number;
}

export class ActivePortMapping extends EventEmitter<PortMappingEvents> implements PortMapping {
  readonly method: PortMappingMethod;
  readonly gateway: string;
  readonly internalHost: string;
  readonly internalPort: number;
  readonly elapsedMs: number;
  externalIp: string;
  externalPort: number;
  leaseSeconds: number;
  verified = false;
  #driver: MappingDriver;
  #keeper: LeaseKeeper;
  #log: Logger;
  #requestTimeout: number;
  // close() and destroy() share one teardown: the port is removed once.
  readonly #state = new LifecycleState("port mapping", () => (this.#teardownDone ??= this.#teardown()));
  #teardownDone: Promise<void> | undefined;
  #lost = false;

  constructor(driver: MappingDriver, granted: GrantedMapping, opts: { logger: Logger; requestTimeout: number; clock?: Clock; timers?: Timers }) {
    super();
    this.method = driver.method;
    this.gateway = driver.gateway;
    this.internalHost = granted.internalHost;
    this.internalPort = granted.internalPort;
    this.elapsedMs = granted.elapsedMs;
    this.externalIp = granted.externalIp;
    this.externalPort = granted.externalPort;
    this.leaseSeconds = granted.leaseSeconds;
    this.#driver = driver;
    this.#log = opts.logger;
    this.#requestTimeout = opts.requestTimeout;
    this.#keeper = new LeaseKeeper(granted.leaseSeconds, () => this.#renew(), {
      renewed: () => {},
      lost: (error) => {
        this.#lost = true;
        this.verified = false;
        this.#log.warn("port mapping lost: renewals failed until the lease ran out", { method: this.method, externalPort: this.externalPort, err: String((error as Error)?.message ?? error) });
        this.emit("lost", error);
      },
    }, { clock: opts.clock, timers: opts.timers });
  }

  async #renew(): Promise<{ ok: true; leaseSeconds: number } | { ok: false; error: unknown }> {
    try {
      const r = await this.#driver.renew({ externalIp: this.externalIp, externalPort: this.externalPort }, this.#requestTimeout);
      const changed = r.externalIp !== this.externalIp || r.externalPort !== this.externalPort;
      if (changed) {
        this.verified = false;
        this.#log.info("port mapping renewed at another address", { from: `${this.externalIp}:${this.externalPort}`, to: `${r.externalIp}:${r.externalPort}` });
      } else {
        this.#log.debug("port mapping renewed", { method: this.method, externalPort: r.externalPort, leaseSeconds: r.leaseSeconds });
      }
      this.externalIp = r.externalIp;
      this.externalPort = r.externalPort;
      this.leaseSeconds = r.leaseSeconds;
      this.emit("renewed", { externalIp: r.externalIp, externalPort: r.externalPort, leaseSeconds: r.leaseSeconds, changed });
      return { ok: true, leaseSeconds: r.leaseSeconds };
    } catch (error) {
      this.#log.debug("port mapping renewal failed", { method: this.method, err: (error as Error).message });
      return { ok: false, error };
    }
  }

  /** Stops renewing, then deletes the external port (unless the lease was lost). */
  async #teardown(): Promise<void> {
    this.#keeper.stop();
    if (this.#lost) return;
    try {
      await this.#driver.remove({ externalIp: this.externalIp, externalPort: this.externalPort }, this.#requestTimeout);
      this.#log.debug("port mapping removed", { method: this.method, externalPort: this.externalPort });
    } catch (err) {
      this.#log.warn("could not remove port mapping; it expires with its lease", { method: this.method, externalPort: this.externalPort, leaseSeconds: this.leaseSeconds, err: (err as Error).message });
    }
  }

  /** Stops renewals and deletes the external port (bounded by requestTimeout). Memoized and idempotent; never rejects. */
  close(): Promise<void> {
    return this.#state.close();
  }

  /** Same as close(): leaving the port mapped until its lease runs out helps no one. Memoized; never rejects. */
  destroy(err?: Error): Promise<void> {
    return this.#state.destroy(err);
  }
}
