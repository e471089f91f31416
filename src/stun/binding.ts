import { StunError } from "../errors.ts";
import { getAttribute, Method, type DecodedStunMessage, type TransportAddress } from "./codec.ts";
import { formatAddress } from "./ip.ts";

/** What one successful Binding transaction learned. */
export interface BindingResult {
  /** Our address as the server saw it (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS). */
  mapped: TransportAddress;
  /** Our socket's local address. */
  local: TransportAddress;
  /** Where the request was sent. */
  server: TransportAddress;
  /** Where the response actually came from (UDP) or the peer (TCP). */
  from: TransportAddress;
  responseOrigin?: TransportAddress;
  /** RFC 5780 OTHER-ADDRESS: the server's alternate IP and port. */
  otherAddress?: TransportAddress;
  software?: string;
  /** From first send to the answer. */
  rttMs: number;
  /** How many times the request was sent (UDP). */
  sends: number;
  /** The decoded response. */
  response: DecodedStunMessage;
}

export interface StunClientStats {
  sent: number;
  answered: number;
  /** Well-formed STUN with a transaction id we were not waiting for. */
  wrongTransaction: number;
  /** Datagrams that failed to decode. */
  garbage: number;
}

/** Turns a Binding success into a BindingResult, or throws StunError for error responses and garbage answers. */
export function bindingResult(msg: DecodedStunMessage, ctx: { local: TransportAddress; server: TransportAddress; from: TransportAddress; rttMs: number; sends: number }): BindingResult {
  if (msg.class === "error") {
    const e = getAttribute(msg, "ERROR-CODE");
    throw new StunError(`STUN server ${formatAddress(ctx.server)} answered ${e ? `${e.code} ${e.reason}` : "an error without ERROR-CODE"}`, { cause: e });
  }
  if (msg.class !== "success" || msg.method !== Method.BINDING) throw new StunError(`unexpected ${msg.class} for method 0x${msg.method.toString(16)}`);
  const mapped = getAttribute(msg, "XOR-MAPPED-ADDRESS") ?? getAttribute(msg, "MAPPED-ADDRESS");
  if (!mapped) throw new StunError(`STUN server ${formatAddress(ctx.server)} answered without a mapped address`);
  return {
    mapped,
    ...ctx,
    responseOrigin: getAttribute(msg, "RESPONSE-ORIGIN"),
    otherAddress: getAttribute(msg, "OTHER-ADDRESS"),
    software: getAttribute(msg, "SOFTWARE"),
    response: msg,
  };
}

