// The resume decision: what a receiver does with an offered file, from what is on disk (table).
import assert from "node:assert/strict";
import { test } from "node:test";
import { decideResume, needsFinalHash, type DiskFacts, type ResumeDecision } from "../../src/transfer/resume.ts";

const want = { size: 1000, sha256: "a".repeat(64) };
const other = { size: 1000, sha256: "b".repeat(64) };

test("resume decisions (table)", () => {
  const cases: Array<[string, DiskFacts, ResumeDecision["action"], number?]> = [
    ["nothing there", {}, "fresh"],
    ["a partial of this file", { part: { size: 400, regular: true }, sidecar: want }, "resume", 400],
    ["a partial that holds every byte", { part: { size: 1000, regular: true }, sidecar: want }, "resume", 1000],
    ["an empty partial", { part: { size: 0, regular: true }, sidecar: want }, "fresh"],
    ["a partial without its sidecar", { part: { size: 400, regular: true } }, "fresh"],
    ["a partial of another version (hash)", { part: { size: 400, regular: true }, sidecar: other }, "fresh"],
    ["a partial of another size", { part: { size: 400, regular: true }, sidecar: { ...want, size: 2000 } }, "fresh"],
    ["a partial longer than the file", { part: { size: 1001, regular: true }, sidecar: want }, "fresh"],
    ["the partial is a symlink or a directory", { part: { size: 400, regular: false }, sidecar: want }, "conflict"],
    ["the final file, same content", { final: { size: 1000, regular: true, sha256: want.sha256 } }, "complete"],
    ["the final file, other content", { final: { size: 1000, regular: true, sha256: other.sha256 } }, "conflict"],
    ["the final file, other size", { final: { size: 10, regular: true } }, "conflict"],
    ["the name is a symlink", { final: { size: 10, regular: false } }, "conflict"],
    ["final and partial: the final wins", { final: { size: 1000, regular: true, sha256: want.sha256 }, part: { size: 5, regular: true }, sidecar: want }, "complete"],
  ];
  for (const [what, facts, action, offset] of cases) {
    const d = decideResume(want, facts);
    assert.equal(d.action, action, what);
    if (offset !== undefined) assert.equal(d.action === "resume" && d.offset, offset, what);
  }
});

test("the final file is hashed only when its size matches", () => {
  assert.equal(needsFinalHash(want, { final: { size: 1000, regular: true } }), true);
  assert.equal(needsFinalHash(want, { final: { size: 999, regular: true } }), false);
  assert.equal(needsFinalHash(want, { final: { size: 1000, regular: false } }), false);
  assert.equal(needsFinalHash(want, {}), false);
});
