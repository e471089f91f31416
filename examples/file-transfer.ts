/**
 * A file transfer with the library API: alice receives, bob sends a 24 MiB
 * file with a progress bar; the connection is cut a third of the way, bob
 * sends again and the transfer resumes from alice's partial file; the SHA-256
 * is verified at the end. Loopback only: `npx tsx examples/file-transfer.ts`.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { receiveFiles, sendFiles, startNode, type Pipe, type TransferEvent } from "../src/index.ts";
import { formatBytes, Meter, progressText } from "../src/transfer/meter.ts";

const say = (text: string) => console.log(text);
const work = mkdtempSync(join(tmpdir(), "p2pnode-example-"));
const file = join(work, "holiday.mp4");
const out = join(work, "alice-downloads");
writeFileSync(file, randomBytes(24 * 1024 * 1024));
mkdirSync(out);
say(`bob's file: ${file} (${formatBytes(24 * 1024 * 1024)})`);

// alice receives every transfer a peer opens into her downloads folder.
const alice = await startNode({ host: "127.0.0.1" });
alice.on("pipe", (pipe) => {
  receiveFiles(pipe, { dir: out }).then(
    (r) => say(`alice: saved ${r.files.map((f) => f.name).join(", ")} (SHA-256 checked before it got its name)`),
    (err: Error) => say(`alice: transfer interrupted (${err.name}); the partial file is kept for a resume`),
  );
});
const bob = await startNode({ host: "127.0.0.1" });

/** A progress bar: bytes, percent, rate and time left, redrawn on a terminal, a line per quarter otherwise. */
function progressBar(): (e: TransferEvent) => void {
  const meter = new Meter({ now: () => Date.now() });
  let quarter = -1;
  return (e) => {
    if (e.event === "file" && e.offset) say(`bob: resuming ${e.name} at ${formatBytes(e.offset)} (alice's partial matched our SHA-256 of those bytes)`);
    if (e.event !== "progress") return;
    const r = meter.update(e.done, e.total);
    const filled = Math.floor((e.done / e.total) * 20);
    const bar = `[${"#".repeat(filled)}${".".repeat(20 - filled)}] ${progressText(r)}`;
    if (process.stdout.isTTY) process.stdout.write(`\r${bar}${e.done === e.total ? "\n" : ""}`);
    else if (Math.floor((e.done / e.total) * 4) > quarter) {
      quarter = Math.floor((e.done / e.total) * 4);
      say(bar);
    }
  };
}

// First try: the connection dies a third of the way through (as if a cable were pulled).
say("\nbob → alice, first try:");
let pipe: Pipe = await bob.connect(alice.addr);
const draw = progressBar();
try {
  await sendFiles(pipe, [file], {
    onEvent: (e) => {
      draw(e);
      if (e.event === "progress" && e.done >= e.total / 3) void pipe.destroy(new Error("cable pulled"));
    },
  });
} catch (err) {
  say(`bob: ${(err as Error).name}: the connection was cut`);
}

// Second try: the same call; only the missing bytes travel.
say("\nbob → alice, again:");
pipe = await bob.connect(alice.addr);
const result = await sendFiles(pipe, [file], { onEvent: progressBar() });
await pipe.close();
const sent = result.files[0]!;
say(`bob: resumed from ${formatBytes(sent.resumedFrom)}; sent ${formatBytes(result.bytes)} of ${formatBytes(result.total)} this time`);

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const same = sha(file) === sha(join(out, "holiday.mp4"));
say(`checksum: ${same ? "SHA-256 matches" : "MISMATCH"} (${sha(file).slice(0, 16)}…)`);
await bob.close();
await alice.close();
rmSync(work, { recursive: true, force: true });
say("All closed");
process.exitCode = same ? 0 : 1;
