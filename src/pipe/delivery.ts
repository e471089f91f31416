/**
 * Message delivery (docs/pipe.md): who gets a received message, in order —
 * every matching subscription, then the 'message' listeners, then the node's
 * callbacks on pipes the peer opened (awaited, message by message), else the
 * pipe's own queue. It also keeps the read-side budget: while more than
 * queueMessages / queueBytes is held unread, the transport is paused (the
 * sender is pushed back on; nothing is dropped), and resumed at half.
 */
import { PipeClosedError } from "../errors.ts";
import type { Logger } from "../util/logger.ts";
import type { Timers } from "../util/clock.ts";
import { matches, type Message, type MessageFilter } from "./message.ts";
import { MessageQueue } from "./message-queue.ts";
import { Subscription, type SubscriptionOwner } from "./subscription.ts";
import type { ByteTransport } from "./transport.ts";

/** The node's callbacks, as a pipe sees them; `P` is the pipe type handed to them. */
export interface Dispatcher<P = unknown> {
  /** True while at least one callback is registered. */
  active(): boolean;
  dispatch: (msg: Message, pipe: P) => void | Promise<void>;
}

export interface DeliveryInit<P> {
  /** The pipe: passed to listeners and callbacks, and owner of subscriptions. */
  pipe: P & SubscriptionOwner & { listenerCount(event: "message"): number; emit(event: "message", msg: Message, pipe: P): boolean };
  transport: ByteTransport;
  queueMessages: number;
  queueBytes: number;
  /** Set on pipes the peer opened: the node's callbacks then receive their messages. */
  dispatch?: Dispatcher<P>;
  timers: Timers;
  log: Logger;
  /** Reading resumed after a pause (the silence was ours, not the peer's). */
  onResume: () => void;
  /** Every message received so far was handed on (the pipe may finish closing). */
  onIdle: () => void;
}

export class Delivery<P> {
  /** The pipe's own queue, read by recv() and for await. */
  readonly queue: MessageQueue;
  readonly #subs = new Set<Subscription>();
  /** Subscriptions made with a signal: removes the abort listener. */
  readonly #unlink = new Map<Subscription, () => void>();
  readonly #init: DeliveryInit<P>;
  #inbox: Message[] = [];
  #pumping = false;
  #bufferedBytes = 0;
  #bufferedCount = 0;
  #paused = false;

  constructor(init: DeliveryInit<P>) {
    this.#init = init;
    this.queue = new MessageQueue(this.#released, init.timers);
  }

  /** True while reading is paused because too much is held unread. */
  get paused(): boolean {
    return this.#paused;
  }

  /** True while received messages are still being handed on. */
  get busy(): boolean {
    return this.#pumping || this.#inbox.length > 0;
  }

  /** Takes a received message; it is handed on in order, after the ones before it. */
  deliver(msg: Message): void {
    this.#hold(msg);
    this.#inbox.push(msg);
    if (!this.#pumping) void this.#pump();
  }

  /** A new subscription; `signal` ends it when aborted (as close() does: a `for await` over it ends quietly). */
  subscribe(filter: MessageFilter | undefined, closedError?: Error, signal?: AbortSignal): Subscription {
    const sub = new Subscription(this.#init.pipe, filter, new MessageQueue(this.#released, this.#init.timers));
    if (closedError) sub.queue.end(closedError);
    this.#subs.add(sub);
    if (signal) {
      const onAbort = () => this.unsubscribe(sub);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        this.#unlink.set(sub, () => signal.removeEventListener("abort", onAbort));
      }
    }
    return sub;
  }

  unsubscribe(sub: Subscription): void {
    this.#unlink.get(sub)?.();
    this.#unlink.delete(sub);
    if (!this.#subs.delete(sub)) return;
    sub.queue.clear();
    sub.queue.end(new PipeClosedError("the subscription was closed"));
  }

  /** No more messages: waiting readers get `err` (queued messages stay readable). */
  end(err: Error): void {
    this.queue.end(err);
    for (const s of this.#subs) s.queue.end(err);
    for (const unlink of this.#unlink.values()) unlink(); // a long-lived signal keeps no closed pipe alive
    this.#unlink.clear();
  }

  #released = (m: Message) => {
    this.#bufferedBytes -= m.data.length;
    this.#bufferedCount--;
    this.#maybeResume();
  };

  #hold(m: Message): void {
    this.#bufferedBytes += m.data.length;
    this.#bufferedCount++;
    const { queueBytes, queueMessages } = this.#init;
    if (!this.#paused && (this.#bufferedBytes > queueBytes || this.#bufferedCount > queueMessages)) {
      this.#paused = true;
      this.#init.transport.pause();
    }
  }

  #maybeResume(): void {
    const { queueBytes, queueMessages } = this.#init;
    if (this.#paused && this.#bufferedBytes <= queueBytes / 2 && this.#bufferedCount <= queueMessages / 2) {
      this.#paused = false;
      this.#init.onResume();
      this.#init.transport.resume();
    }
  }

  async #pump(): Promise<void> {
    const { pipe, dispatch, log } = this.#init;
    this.#pumping = true;
    try {
      while (this.#inbox.length) {
        const msg = this.#inbox.shift()!;
        let taken = false;
        for (const sub of this.#subs) {
          if (matches(sub.filter, msg)) {
            taken = true;
            if (sub.queue.push(msg)) this.#hold(msg);
          }
        }
        if (pipe.listenerCount("message") > 0) {
          taken = true;
          try {
            pipe.emit("message", msg, pipe);
          } catch (err) {
            log.warn("a 'message' listener threw", { error: (err as Error).message });
          }
        }
        if (dispatch?.active()) {
          taken = true;
          try {
            await dispatch.dispatch(msg, pipe);
          } catch (err) {
            log.warn("a message callback threw", { error: (err as Error).message });
          }
        }
        if (!taken && this.queue.push(msg)) this.#hold(msg);
        this.#released(msg); // it left the inbox
      }
    } finally {
      this.#pumping = false;
    }
    this.#init.onIdle();
  }
}
