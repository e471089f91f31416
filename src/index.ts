/** p2pnode: connect two peers anywhere, behind NATs and firewalls. */
export { startNode, Node, type NodeOptions, type ConnectOptions, type NodeEvents } from "./node.ts";
export { NODE_DEFAULTS } from "./options.ts";
export type { ProgressDetails, ProgressEvent, ProgressEventName, ProgressListener } from "./connect/progress.ts";
export type { ConnectAttempt } from "./util/trace.ts";
export type { RelayPath } from "./pipe/types.ts";
export { defaultStrategies, type DefaultStrategyOptions } from "./strategies/index.ts";
export { TurnStrategy, TURN_DEFAULTS, type TurnOptions } from "./strategies/turn.ts";
export { startEmbeddedRelay, type EmbeddedRelay, type EmbeddedRelayOptions } from "./turn/embedded.ts";
export { restCredentials, type TurnServerConfig } from "./turn/uri.ts";
export { Pipe, Subscription, PIPE_DEFAULTS, type PipeOptions, type PipeStats, type MessageHandler } from "./pipe/pipe.ts";
export { Message, type MessageFilter } from "./pipe/message.ts";
export { sendFiles, receiveFiles, describeFiles, type SendOptions, type ReceiveOptions, type LocalFile, type TransferEvent, type TransferOptions, type TransferResult, type TransferredFile } from "./transfer/index.ts";
export { Identity, isNodeId, type NodeId } from "./identity/identity.ts";
export { parseAddress, encodeAddress, describeAddress, type NodeAddress, type AddressInterface, type NatSummary } from "./identity/address.ts";
export { createLogger, silentLogger, type Logger, type LogLevel } from "./util/logger.ts";
export type { Strategy, StrategyName, DialContext, DialResult, ResponderContext, Responder, Applicability, SignalingPort } from "./strategies/strategy.ts";
export { systemClock, systemTimers, type Clock, type Timers } from "./util/clock.ts";
export * from "./errors.ts";
