/** A message received on a pipe, and the filters that select messages. */
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
