/** A message received on a pipe, the filters that select messages, and how send() encodes one. */
import { InvalidArgumentError, MessageTooLargeError } from "../errors.ts";
import { FrameFlags } from "../session/frame.ts";

/** One message received on a pipe: its bytes, whether it was sent as text, and its sequence number. */
export class Message {
  /** The message bytes. */
  readonly data: Uint8Array;
  /** True when the sender passed a string to send(). */
  readonly isText: boolean;
  /** The sender's sequence number for this message (1, 2, …). */
  readonly seq: number;
  #text?: string;

  constructor(data: Uint8Array, isText: boolean, seq: number) {
    this.data = data;
    this.isText = isText;
    this.seq = seq;
  }

  /** The message as UTF-8 text. */
  get text(): string {
    this.#text ??= Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength).toString("utf8");
    return this.#text;
  }

  /** The message as UTF-8 text (the same as `text`). */
  toString(): string {
    return this.text;
  }
}

/** Selects messages: a predicate, a RegExp tested on the text, or a text prefix. */
export type MessageFilter = ((msg: Message) => boolean) | RegExp | string;

export function matches(filter: MessageFilter | undefined, msg: Message): boolean {
  if (filter === undefined) return true;
  if (typeof filter === "function") return filter(msg);
  if (typeof filter === "string") return msg.text.startsWith(filter);
  filter.lastIndex = 0;
  return filter.test(msg.text);
}

/** send()'s argument as frame payload and flags (TEXT for a string), or the InvalidArgumentError to reject with. */
export function encodeOutgoing(data: unknown): { bytes: Uint8Array; flags: number } | InvalidArgumentError {
  if (typeof data === "string") return { bytes: Buffer.from(data, "utf8"), flags: FrameFlags.TEXT };
  if (data instanceof Uint8Array) return { bytes: data, flags: 0 };
  return new InvalidArgumentError("send() takes a string or a Uint8Array");
}

/** send()'s argument checked against the pipe's limit (`limit`: the smaller of both sides' maxima). */
export function outgoing(data: unknown, limit: number): { bytes: Uint8Array; flags: number } | InvalidArgumentError | MessageTooLargeError {
  const out = encodeOutgoing(data);
  if (out instanceof Error || out.bytes.length <= limit) return out;
  return new MessageTooLargeError(`message of ${out.bytes.length} bytes exceeds the pipe's maximum of ${limit} bytes (the smaller of ours and the peer's)`);
}
