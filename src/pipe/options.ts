/** The Pipe's tuning options, their defaults, and their validation (done once, into a new object). */
import { InvalidArgumentError } from "../errors.ts";

/** A pipe's tuning options (startNode({ pipe })); see docs/pipe.md. */
export interface PipeOptions {
  /** Largest message accepted or sent, in bytes. @default 4 MiB */
  maxMessageSize: number;
  /** Send a keepalive when nothing was sent for this long (ms). @default 10000 */
  keepaliveInterval: number;
  /** Fail the pipe with PeerTimeoutError when nothing arrives for this long (ms). @default 30000 */
  deadPeerTimeout: number;
  /** How long close() waits for the peer to finish (ms) before cutting the connection. @default 5000 */
  closeTimeout: number;
  /** Default timeout of recv() (ms); 0 = wait until a message or the pipe closes. @default 30000 */
  recvTimeout: number;
  /** Messages held unread before the pipe stops reading the socket. @default 1024 */
  queueMessages: number;
  /**
   * Bytes held unread before the pipe stops reading the socket. Also the send-side
   * budget for frames the peer makes us send (PONG): while more than this waits to be
   * written, a PING is not answered. @default 16 MiB
   */
  queueBytes: number;
  /**
   * Resumable pipes (both sides say so in the handshake): how long a pipe whose path
   * died waits for a new one (resume()) before it fails; sends wait meanwhile. Sent
   * messages are kept until the peer acknowledges them (at most queueBytes). 0 = not
   * resumable: a dead path ends the pipe. @default 30000
   */
  resumeWindow: number;
}

/** The default pipe options. */
export const PIPE_DEFAULTS: Readonly<PipeOptions> = Object.freeze({
  maxMessageSize: 4 * 1024 * 1024,
  keepaliveInterval: 10_000,
  deadPeerTimeout: 30_000,
  closeTimeout: 5_000,
  recvTimeout: 30_000,
  queueMessages: 1024,
  queueBytes: 16 * 1024 * 1024,
  resumeWindow: 30_000,
});

/** Fills in the defaults and validates every option (InvalidArgumentError naming it). */
export function resolvePipeOptions(opts: Partial<PipeOptions> = {}): PipeOptions {
  const o = { ...PIPE_DEFAULTS, ...opts };
  for (const [k, v] of Object.entries(o)) {
    if (typeof v !== "number" || !(v >= 0) || (k !== "recvTimeout" && k !== "resumeWindow" && v === 0)) {
      throw new InvalidArgumentError(`pipe option ${k} must be a positive number, got ${String(v)}`);
    }
  }
  return o;
}
