/** p2pnode: connect two peers anywhere, behind NATs and firewalls. */
export { startNode, Node, type NodeOptions, type ConnectOptions } from "./node.ts";
export { Pipe, Subscription, PIPE_DEFAULTS, type PipeOptions, type PipeStats, type MessageHandler } from "./pipe/pipe.ts";
export { Message, type MessageFilter } from "./pipe/message.ts";
export { Identity, isNodeId, type NodeId } from "./identity/identity.ts";
export { parseAddress, encodeAddress, describeAddress, type NodeAddress, type AddressInterface, type NatSummary } from "./identity/address.ts";
export { createLogger, silentLogger, type Logger, type LogLevel } from "./util/logger.ts";
export type { Strategy, StrategyName, DialContext, DialResult } from "./strategies/strategy.ts";
export * from "./errors.ts";
