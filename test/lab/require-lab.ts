/**
 * One decision for every lab test file: can this machine build the NAT lab?
 *
 *   const skip = labSkipReason();            // string → skip, null → run
 *   describe("…", { skip: skip ?? false }, () => { … });
 *
 * Without root or `ip netns` the lab tests skip with one clear line, except in
 * CI (CI=true), where a lab that cannot be built is a failure, not a skip.
 */
import { spawnSync } from "node:child_process";

let cached: string | null | undefined;

function probeLab(): string | null {
  if (process.platform !== "linux") return "the NAT lab needs Linux network namespaces";
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "the NAT lab needs root (ip netns, nft)";
  for (const tool of ["ip", "nft", "conntrack", "tc"]) {
    const r = spawnSync("sh", ["-c", `command -v ${tool}`]);
    if (r.status !== 0) return `the NAT lab needs \`${tool}\` (run test/lab/install.sh)`;
  }
  // Can we really create a namespace? (containers without CAP_SYS_ADMIN cannot)
  const name = `p2pn-check-${process.pid}`;
  const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
  if (add.status !== 0) return `ip netns add failed: ${(add.stderr || "").trim()}`;
  spawnSync("ip", ["netns", "del", name]);
  return null;
}

/** Why the lab cannot run here (null when it can). Throws in CI instead of returning a reason. */
export function labSkipReason(): string | null {
  if (cached === undefined) cached = probeLab();
  if (cached && process.env.CI === "true") {
    throw new Error(`NAT lab unavailable in CI: ${cached}`);
  }
  if (cached) process.stderr.write(`# NAT lab tests skipped: ${cached}\n`);
  return cached;
}
