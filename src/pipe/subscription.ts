/** A separate stream of the messages matching a filter (pipe.subscribe). */
import type { Message, MessageFilter } from "./message.ts";
import type { MessageQueue, TakeOptions } from "./message-queue.ts";

/** What a subscription needs from its pipe: a way to leave it. */
export interface SubscriptionOwner {
  /** Ends a subscription: its unread messages are dropped, its waiting readers get PipeClosedError, later messages go elsewhere. */
  unsubscribe(sub: Subscription): void;
}

/** A stream of messages matching a filter, read by `for await` or `next()`. */
export class Subscription implements AsyncIterable<Message> {
  readonly filter?: MessageFilter;
  readonly queue: MessageQueue;
  readonly #owner: SubscriptionOwner;

  constructor(owner: SubscriptionOwner, filter: MessageFilter | undefined, queue: MessageQueue) {
    this.#owner = owner;
    this.filter = filter;
    this.queue = queue;
  }

  /** The next matching message (same options as recv). */
  next(opts: Omit<TakeOptions, "filter"> = {}): Promise<Message> {
    return this.queue.take(opts);
  }

  /** `for await (const msg of sub)`: every matching message until the pipe closes. */
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.queue.iterate();
  }

  /** Stops the subscription; unread messages in it are released. */
  close(): void {
    this.#owner.unsubscribe(this);
  }
}
