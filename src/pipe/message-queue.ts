/**
 * A bounded queue of received messages with waiting readers. It never drops:
 * the pipe stops reading the socket while queues are over their limits, which
 * pushes back on the sender through TCP.
 */
import { AbortError, PipeClosedError, TimeoutError } from "../errors.ts";
import { systemTimers, type TimerHandle, type Timers } from "../util/clock.ts";
import { matches, type Message, type MessageFilter } from "./message.ts";

interface Waiter {
  filter?: MessageFilter;
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

export interface TakeOptions {
  filter?: MessageFilter;
  /** Milliseconds; 0 or Infinity waits until a message arrives or the pipe closes. */
  timeout?: number;
  signal?: AbortSignal;
}

export class MessageQueue {
  #items: Message[] = [];
  #waiters: Waiter[] = [];
  #ended?: Error;
  readonly #onTake: (m: Message) => void;
  readonly #timers: Timers;

  /**
   * `onTake` is told when a message leaves the queue (the pipe's buffer accounting);
   * `timers` run take()'s timeouts (the pipe's, fake in tests).
   */
  constructor(onTake: (m: Message) => void, timers: Timers = systemTimers) {
    this.#onTake = onTake;
    this.#timers = timers;
  }

  get length(): number {
    return this.#items.length;
  }

  /** Hands the message to a waiting reader, or keeps it. Returns true if it was kept (buffered). */
  push(msg: Message): boolean {
    const i = this.#waiters.findIndex((w) => matches(w.filter, msg));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w.cleanup();
      w.resolve(msg);
      return false;
    }
    this.#items.push(msg);
    return true;
  }

  take(opts: TakeOptions = {}): Promise<Message> {
    const i = this.#items.findIndex((m) => matches(opts.filter, m));
    if (i >= 0) {
      const [m] = this.#items.splice(i, 1);
      this.#onTake(m);
      return Promise.resolve(m);
    }
    if (this.#ended) return Promise.reject(this.#ended);
    if (opts.signal?.aborted) return Promise.reject(new AbortError("recv aborted"));
    return new Promise((resolve, reject) => {
      let timer: TimerHandle | undefined;
      const onAbort = () => {
        remove();
        reject(new AbortError("recv aborted"));
      };
      const w: Waiter = {
        filter: opts.filter,
        resolve,
        reject,
        cleanup: () => {
          if (timer !== undefined) this.#timers.clearTimeout(timer);
          opts.signal?.removeEventListener("abort", onAbort);
        },
      };
      const remove = () => {
        const k = this.#waiters.indexOf(w);
        if (k >= 0) this.#waiters.splice(k, 1);
        w.cleanup();
      };
      if (opts.timeout && Number.isFinite(opts.timeout)) {
        timer = this.#timers.setTimeout(() => {
          remove();
          reject(new TimeoutError(`no message arrived within ${opts.timeout} ms`));
        }, opts.timeout);
      }
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(w);
    });
  }

  /** Removes every queued message (each reported to onTake). */
  clear(): void {
    for (const m of this.#items.splice(0)) this.#onTake(m);
  }

  /** No more messages will come: waiting readers get `err`; queued messages stay readable. */
  end(err: Error = new PipeClosedError("the pipe is closed")): void {
    this.#ended ??= err;
    for (const w of this.#waiters.splice(0)) {
      w.cleanup();
      w.reject(this.#ended);
    }
  }

  get ended(): Error | undefined {
    return this.#ended;
  }

  /** Async iteration: yields until the queue ends; ends quietly on a graceful close. */
  async *iterate(filter?: MessageFilter): AsyncGenerator<Message> {
    for (;;) {
      try {
        yield await this.take({ filter });
      } catch (err) {
        if (err instanceof PipeClosedError) return;
        throw err;
      }
    }
  }
}
