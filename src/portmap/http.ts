/**
 * A tiny bounded HTTP/1.1 client for the IGD's description and SOAP control
 * URLs: no keep-alive agent (no socket outlives the call), a size cap, and
 * the caller's signal/timeout.
 */
import http from "node:http";
import { AbortError, PortMappingError, TimeoutError } from "../errors.ts";
import type { Timers } from "../util/clock.ts";
import { deadline } from "../util/deadline.ts";

const MAX_BODY = 256 * 1024;

export interface HttpResult {
  status: number;
  body: string;
}

export function httpRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string; timeoutMs: number; signal?: AbortSignal; timers?: Timers }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    if (u.protocol !== "http:") {
      reject(new PortMappingError(`only http: URLs are supported, got ${url}`));
      return;
    }
    if (opts.signal?.aborted) {
      reject(new AbortError("port mapping aborted", { cause: opts.signal.reason }));
      return;
    }
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body, "utf8");
    const req = http.request(
      {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port || 80,
        path: `${u.pathname}${u.search}`,
        method: opts.method ?? "GET",
        agent: false,
        headers: { ...opts.headers, Connection: "close", ...(body ? { "Content-Length": String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) req.destroy(new PortMappingError(`answer from ${url} is larger than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on("end", () => {
          cleanup();
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") });
        });
        res.on("error", fail);
      },
    );
    const d = deadline({ timeout: opts.timeoutMs, signals: [opts.signal], what: `HTTP ${opts.method ?? "GET"} ${url}`, timers: opts.timers });
    const onStop = () =>
      req.destroy(
        d.signal.reason instanceof TimeoutError
          ? new PortMappingError(`HTTP ${opts.method ?? "GET"} ${url} took longer than ${opts.timeoutMs} ms`)
          : new AbortError("port mapping aborted", { cause: opts.signal?.reason }),
      );
    d.signal.addEventListener("abort", onStop, { once: true });
    function cleanup() {
      d.signal.removeEventListener("abort", onStop);
      d.done();
    }
    function fail(err: Error) {
      cleanup();
      reject(err instanceof PortMappingError || err instanceof AbortError ? err : new PortMappingError(`HTTP ${opts.method ?? "GET"} ${url} failed: ${err.message}`, { cause: err }));
    }
    req.on("error", fail);
    req.end(body);
  });
}
