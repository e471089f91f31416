/**
 * The first step every strategy's responder takes (reverse, punch, and TURN
 * later): validate the request body, parse the requester's signed address
 * from it and check that the address belongs to the node that sent the
 * request over signaling. Written once so no responder can skip the check:
 * a body naming someone else's address would make us dial endpoints that
 * node signed, on behalf of a third party (docs/security.md §Dialling for a peer).
 */
import { parseAddress, type NodeAddress } from "../identity/address.ts";
import type { NodeId } from "../identity/identity.ts";
import { InvalidArgumentError, ProtocolError, RefusedError } from "../errors.ts";

/** A request body that carries the requester's signed address. */
export interface AddressedRequest {
  /** The requester's signed address (text form). */
  address: string;
}

/** A validated request and the requester's address, proven to be the sender's own. */
export interface AdmittedRequest<T extends AddressedRequest> {
  req: T;
  requester: NodeAddress;
}

/**
 * Validates `body` with `parse` and admits it only if the address it carries
 * is signed by `from` (the authenticated signaling sender).
 *
 * @param what names the request in errors ("reverse-connect", "punch").
 * @throws ProtocolError when the body is malformed (peer input, not a caller's mistake).
 * @throws RefusedError when the address does not parse or belongs to another node.
 */
export function admitRequest<T extends AddressedRequest>(what: string, body: unknown, from: NodeId, parse: (body: unknown) => T): AdmittedRequest<T> {
  const req = parsePeerInput(what, body, parse);
  let requester: NodeAddress;
  try {
    requester = parseAddress(req.address);
  } catch (err) {
    throw new RefusedError(`${what}: the requester's address is invalid: ${(err as Error).message}`, { cause: err });
  }
  if (requester.id !== from) throw new RefusedError(`${what}: the address belongs to another node`);
  return { req, requester };
}

/**
 * Runs a wire parser on peer input: a parser that still reports bad input as
 * InvalidArgumentError (the caller's error) has it re-typed as ProtocolError,
 * same message, so the reply on the wire is unchanged (both are
 * WireError.PROTOCOL with the message).
 */
export function parsePeerInput<T>(what: string, body: unknown, parse: (body: unknown) => T): T {
  try {
    return parse(body);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new ProtocolError(err.message, { cause: err });
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError(`${what}: malformed request: ${(err as Error).message}`, { cause: err });
  }
}
