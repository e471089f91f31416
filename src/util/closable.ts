/**
 * Lifecycle written once. close() is graceful, destroy(err) is forceful; both
 * are memoized (the second call returns the first call's promise), idempotent
 * and never reject. `lifetime` aborts when either begins, so every per-call
 * signal an owner hands out can be linked to it (see deadline()).
 */
import { EventEmitter, setMaxListeners } from "node:events";
import { NodeClosedError } from "../errors.ts";

export interface Lifecycle {
  readonly lifetime: AbortSignal;
  readonly closed: boolean;
  /** Graceful close; idempotent, never rejects (a second call returns the first call's promise). */
  close(): Promise<void>;
  /** Forceful close, with `err` as the reason; idempotent, never rejects. */
  destroy(err?: Error): Promise<void>;
}

/** The state machine itself, for classes that cannot extend a base. */
export class LifecycleState implements Lifecycle {
  readonly #controller = new AbortController();
  #closing?: Promise<void>;
  #destroying?: Promise<void>;
  readonly #what: string;
  readonly #onClose: () => Promise<void>;
  readonly #onDestroy: (err?: Error) => Promise<void>;

  constructor(what: string, onClose: () => Promise<void>, onDestroy?: (err?: Error) => Promise<void>) {
    // Every call in flight (each connect, each wait) links to the lifetime, so
    // dozens of listeners are normal here, not a leak: no MaxListeners warning.
    setMaxListeners(0, this.#controller.signal);
    this.#what = what;
    this.#onClose = onClose;
    this.#onDestroy = onDestroy ?? (() => onClose());
  }

  get lifetime(): AbortSignal {
    return this.#controller.signal;
  }

  get closed(): boolean {
    return this.#controller.signal.aborted;
  }

  close(): Promise<void> {
    if (this.#destroying) return this.#destroying;
    this.#closing ??= this.#run(() => this.#onClose(), new NodeClosedError(`${this.#what} closed`));
    return this.#closing;
  }

  destroy(err?: Error): Promise<void> {
    // A destroy during a graceful close still forces the rest of it.
    this.#destroying ??= this.#run(() => this.#onDestroy(err), err ?? new NodeClosedError(`${this.#what} destroyed`));
    return this.#destroying;
  }

  async #run(fn: () => Promise<void>, reason: Error): Promise<void> {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
    try {
      await fn();
    } catch {
      // Teardown never rejects: what failed to close is already unusable.
    }
  }
}

/** A base for EventEmitter classes with the lifecycle above; subclasses implement onClose/onDestroy. */
export abstract class Closable<Events extends Record<keyof Events, unknown[]> = Record<string, unknown[]>> extends EventEmitter<Events> implements Lifecycle {
  readonly #state: LifecycleState;

  constructor(what: string) {
    super();
    this.#state = new LifecycleState(what, () => this.onClose(), (err) => this.onDestroy(err));
  }

  protected abstract onClose(): Promise<void>;

  /** Forceful teardown. @default the graceful one */
  protected onDestroy(_err?: Error): Promise<void> {
    return this.onClose();
  }

  get lifetime(): AbortSignal {
    return this.#state.lifetime;
  }

  get closed(): boolean {
    return this.#state.closed;
  }

  /** Graceful close; idempotent, never rejects (a second call returns the first call's promise). */
  close(): Promise<void> {
    return this.#state.close();
  }

  /** Forceful close, with `err` as the reason; idempotent, never rejects. */
  destroy(err?: Error): Promise<void> {
    return this.#state.destroy(err);
  }
}
