/**
 * Named modules called RPC-style over one pipe (the p2p-platform seed's
 * `$BV.module(name, fn)` / `.message(name, request, callback)`): each request
 * carries an id, the answer carries the same id, so many calls can be in
 * flight on one pipe and answers may come back in any order. Both ends can
 * call and serve at once. Used by examples/rpc.ts; copy it into your app.
 *
 * Wire: one JSON text message per request or answer, starting with `{"rpc":1,`
 *   {"rpc":1,"id":7,"module":"math.add","request":{…}}
 *   {"rpc":1,"id":7,"response":…}   or   {"rpc":1,"id":7,"error":{"code":"…","message":"…"}}
 * Other messages on the pipe are left alone (they still reach recv(), onMessage, …).
 */
import { P2PError, PipeClosedError, TimeoutError, type Message, type NodeId, type Pipe } from "../src/index.ts";

/** A module: takes the request, returns (or resolves with) the response; what it throws goes back as an error. */
export type Module = (request: unknown, caller: { peer: NodeId }) => unknown;

// Typed errors in the library's style: P2PError with a stable code, and `instanceof` works.
/** The peer has no module of that name. */
export class UnknownModuleError extends P2PError {
  static readonly code = "RPC_ERR_UNKNOWN_MODULE";
  constructor(message: string) { super(UnknownModuleError.code, message); }
}
/** The peer's module threw; `remoteCode` is its error's code (or "ERROR"). */
export class RemoteError extends P2PError {
  static readonly code = "RPC_ERR_REMOTE";
  constructor(message: string, readonly remoteCode: string) { super(RemoteError.code, message); }
}
/** The peer has too many of our requests in hand already; try again later. */
export class BusyError extends P2PError {
  static readonly code = "RPC_ERR_BUSY";
  constructor(message: string) { super(BusyError.code, message); }
}
const CODED = { [UnknownModuleError.code]: UnknownModuleError, [BusyError.code]: BusyError };

const PREFIX = '{"rpc":1,';
const MAX_NAME = 200;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Rpc {
  readonly #pipe: Pipe;
  readonly #modules: ReadonlyMap<string, Module>;
  readonly #pending = new Map<number, Pending>();
  readonly #timeout: number;
  readonly #maxInFlight: number;
  #nextId = 1;
  #serving = 0;

  /**
   * Serves `modules` on `pipe` and lets you call the peer's. `timeout` is each call's
   * default limit; at most `maxInFlight` of the peer's requests run at once.
   */
  constructor(pipe: Pipe, modules: Record<string, Module> = {}, opts: { timeout?: number; maxInFlight?: number } = {}) {
    this.#pipe = pipe;
    this.#modules = new Map(Object.entries(modules));
    this.#timeout = opts.timeout ?? 5_000;
    this.#maxInFlight = opts.maxInFlight ?? 64;
    // A subscription with a string-prefix filter takes only our messages, in order.
    const sub = pipe.subscribe(PREFIX);
    void (async () => {
      for await (const msg of sub) this.#onMessage(msg);
    })().catch(() => {}); // iteration ends (or throws the pipe's error) when the pipe closes
    void pipe.closed.then((err) => this.#failAll(new PipeClosedError("the pipe closed before the answer came", { cause: err })));
  }

  /** Calls the peer's module `name`; rejects with TimeoutError, UnknownModuleError, RemoteError, BusyError or PipeClosedError. */
  call<T = unknown>(name: string, request?: unknown, opts: { timeout?: number } = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const ms = opts.timeout ?? this.#timeout;
      // On timeout the call is forgotten: a late answer finds no id and is dropped.
      const timer = setTimeout(() => this.#settle(id)?.reject(new TimeoutError(`${name}: no answer within ${ms} ms`)), ms);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#pipe.send(JSON.stringify({ rpc: 1, id, module: name, request })).catch((err: Error) => this.#settle(id)?.reject(err));
    });
  }

  /** Takes call `id` out of the pending table and stops its timer; undefined when it is not pending. */
  #settle(id: number): Pending | undefined {
    const p = this.#pending.get(id);
    if (p) (this.#pending.delete(id), clearTimeout(p.timer));
    return p;
  }

  /** The pipe closed: every call still waiting rejects with `err`. */
  #failAll(err: Error): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id)?.reject(err);
  }

  // Everything here came from the peer: hostile until checked. Anything malformed is dropped.
  #onMessage(msg: Message): void {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(msg.text);
    } catch {
      return;
    }
    if (typeof m !== "object" || m === null || !Number.isSafeInteger(m.id)) return;
    const id = m.id as number;
    if (typeof m.module === "string") return void this.#serve(id, m.module, m.request);
    const p = this.#settle(id);
    if (!p) return; // not ours, or already timed out
    if (!("error" in m)) return p.resolve(m.response);
    const e = (m.error ?? {}) as { code?: unknown; message?: unknown };
    const code = typeof e.code === "string" ? e.code.slice(0, 100) : "ERROR";
    const text = typeof e.message === "string" ? e.message.slice(0, 1000) : "remote error";
    const Known = CODED[code as keyof typeof CODED];
    p.reject(Known ? new Known(text) : new RemoteError(text, code));
  }

  /** Runs the peer's request for module `name` and answers with id `id`; never throws. */
  async #serve(id: number, name: string, request: unknown): Promise<void> {
    const answer = (body: object) => this.#pipe.send(JSON.stringify({ rpc: 1, id, ...body })).catch(() => {}); // pipe gone: nobody to tell
    const module = name.length <= MAX_NAME ? this.#modules.get(name) : undefined;
    if (!module) return void answer({ error: { code: UnknownModuleError.code, message: `no module ${JSON.stringify(name.slice(0, MAX_NAME))}` } });
    if (this.#serving >= this.#maxInFlight) return void answer({ error: { code: BusyError.code, message: `${this.#maxInFlight} requests already in progress` } });
    this.#serving++;
    try {
      // Modules run concurrently: a slow one does not hold up the answers behind it.
      await answer({ response: (await module(request, { peer: this.#pipe.remoteId })) ?? null });
    } catch (err) {
      const code = typeof (err as { code?: unknown })?.code === "string" ? (err as { code: string }).code : "ERROR";
      await answer({ error: { code, message: err instanceof Error ? err.message : String(err) } });
    } finally {
      this.#serving--;
    }
  }
}
