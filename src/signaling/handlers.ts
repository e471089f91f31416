/**
 * The responder's handler side: the registry of request types, the cap on
 * handlers running at once (background work included, see hold()) and the
 * dial-out rate limit for handlers that make us connect somewhere. It turns a
 * request into its ReplyWire and never throws.
 */
import type { NodeId } from "../identity/identity.ts";
import { InvalidArgumentError, WireError } from "../errors.ts";
import type { Clock } from "../util/clock.ts";
import type { Logger } from "../util/logger.ts";
import type { SignalMessage } from "./envelope.ts";
import { RESERVED_TYPES, type ReplyWire } from "./messages.ts";
import type { MessageInfo } from "./mqtt-transport.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { HandlerOptions, RequestContext, RequestHandler } from "./signaling-options.ts";
import { errorToWire } from "./wire-error.ts";

const TYPE_RE = /^[a-z0-9][a-z0-9.-]{0,63}$/;

export class HandlerRunner {
  readonly #handlers = new Map<string, { fn: RequestHandler; dialsOut: boolean }>();
  #running = 0;

  constructor(
    private readonly limiter: RateLimiter,
    private readonly maxConcurrent: number,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Registers the handler for request `type` (replacing any earlier one); InvalidArgumentError for a reserved or malformed type. */
  set(type: string, handler: RequestHandler, options: HandlerOptions = {}): void {
    if (RESERVED_TYPES.has(type) || !TYPE_RE.test(type)) throw new InvalidArgumentError(`cannot handle type ${JSON.stringify(type)}`);
    if (typeof handler !== "function") throw new InvalidArgumentError("handler must be a function");
    this.#handlers.set(type, { fn: handler, dialsOut: options.dialsOut === true });
  }

  delete(type: string): void {
    this.#handlers.delete(type);
  }

  /** Running handlers, background work included. */
  get running(): number {
    return this.#running;
  }

  /** Counts `task` as a running handler until it settles. */
  hold(task: Promise<unknown>): void {
    this.#running++;
    void task.then(
      () => this.#running--,
      () => this.#running--,
    );
  }

  /** Runs the handler for `msg` and returns its reply: busy, unknown type, rate limit and handler errors included. */
  async handle(msg: SignalMessage, body: unknown, info: MessageInfo): Promise<ReplyWire> {
    const re = msg.id;
    const fail = (code: WireError, message: string): ReplyWire => ({ re, ok: false, error: { code, message } });
    if (this.#running >= this.maxConcurrent) return fail(WireError.REFUSED, "busy");
    this.#running++;
    try {
      const h = this.#handlers.get(msg.type);
      if (!h) return fail(WireError.PROTOCOL, `unknown request type ${msg.type}`);
      if (h.dialsOut && !this.limiter.take(msg.from, this.clock.now())) {
        this.log.debug("dial-out rate limit", { from: msg.from, type: msg.type });
        return fail(WireError.REFUSED, "rate limited");
      }
      const ctx: RequestContext = { from: msg.from as NodeId, type: msg.type, id: msg.id, sentAt: msg.timestamp, receivedAt: this.clock.now(), broker: info.broker };
      try {
        const result = await h.fn(body, msg.from, ctx);
        return { re, ok: true, body: result === undefined ? null : result };
      } catch (err) {
        this.log.debug("handler failed", { type: msg.type, error: (err as Error)?.message });
        return { re, ok: false, error: errorToWire(err) };
      }
    } finally {
      this.#running--;
    }
  }
}
