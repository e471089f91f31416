/** Every fuzz target, by group (the file it lives in). */
import type { FuzzTarget } from "../harness.ts";

export const GROUPS = ["address", "frame", "handshake", "stun", "signaling", "messages", "punch", "portmap", "relay"] as const;

export async function loadTargets(groups: readonly string[] = GROUPS): Promise<FuzzTarget[]> {
  const out: FuzzTarget[] = [];
  for (const g of groups) out.push(...((await import(`./${g}.ts`)) as { targets: FuzzTarget[] }).targets);
  return out;
}
