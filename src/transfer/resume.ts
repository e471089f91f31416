/**
 * What a receiver does with one offered file, from what it finds on disk. Pure:
 * disk.ts gathers the facts, this decides.
 */

export interface Expected {
  size: number;
  sha256: string;
}

export interface DiskFacts {
  /** The final file, when one exists under that name. */
  final?: { size: number; sha256?: string; regular: boolean };
  /** The partial file, when one exists. */
  part?: { size: number; regular: boolean };
  /** The partial's sidecar: what the partial was meant to become (undefined: missing or unreadable). */
  sidecar?: Expected;
}

export type ResumeDecision =
  /** The final file is already there with the same content: nothing to send. */
  | { action: "complete" }
  /** Keep the first `offset` bytes of the partial (the sender checks their hash). */
  | { action: "resume"; offset: number }
  /** Start from byte 0 (a partial that is missing, stale, or of another file is discarded). */
  | { action: "fresh" }
  /** Refuse: a different file (or not a regular file) already has that name. */
  | { action: "conflict"; why: string };

/** Which facts decide needs the final file's hash for: a final of the expected size. */
export function needsFinalHash(expected: Expected, facts: DiskFacts): boolean {
  return !!facts.final?.regular && facts.final.size === expected.size;
}

export function decideResume(expected: Expected, facts: DiskFacts): ResumeDecision {
  const { final, part, sidecar } = facts;
  if (final) {
    if (!final.regular) return { action: "conflict", why: "exists and is not a regular file" };
    if (final.size === expected.size && final.sha256 === expected.sha256) return { action: "complete" };
    return { action: "conflict", why: "already exists with other content" };
  }
  if (part && !part.regular) return { action: "conflict", why: "its partial file is not a regular file" };
  if (!part || !sidecar || part.size === 0) return { action: "fresh" };
  // A partial of another version of the file (or of a file that shrank) is of no use.
  if (sidecar.size !== expected.size || sidecar.sha256 !== expected.sha256) return { action: "fresh" };
  if (part.size > expected.size) return { action: "fresh" };
  // A partial that holds every byte still goes through the final check: resume at its end.
  return { action: "resume", offset: part.size };
}
