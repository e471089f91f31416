/** File transfer over a Pipe: sendFiles / receiveFiles (docs/transfer.md). */
export { sendFiles, describeFiles, CHUNK_SIZE, type SendOptions, type LocalFile } from "./sender.ts";
export { receiveFiles, checkOffer, type ReceiveOptions } from "./receiver.ts";
export { unsafeName, PART_SUFFIX } from "./names.ts";
export { Meter, formatBytes, formatEta, progressText, type MeterReading } from "./meter.ts";
export type { TransferEvent, TransferOptions, TransferResult, TransferredFile } from "./types.ts";
