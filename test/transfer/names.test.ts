// Which names a receiver accepts from a peer: a table of hostile names, and the plain ones that pass.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_NAME_BYTES, nameKey, unsafeName } from "../../src/transfer/names.ts";

test("hostile names are refused, each with its reason (table)", () => {
  const cases: Array<[unknown, RegExp]> = [
    ["", /empty/],
    [undefined, /empty/],
    ["..", /directory reference/],
    [".", /directory reference/],
    ["../etc/passwd", /path separator/],
    ["../../escape", /path separator/],
    ["a/../../b", /path separator/],
    ["/etc/passwd", /path separator/],
    ["/", /path separator/],
    ["sub/dir.txt", /path separator/],
    ["..\\windows\\system32", /path separator/],
    ["\\\\server\\share", /path separator/],
    ["C:evil", /drive letter/],
    ["c:\\x", /path separator|drive letter/],
    ["file.txt:stream", /':'/],
    ["nul\u0000byte", /NUL/],
    ["line\nbreak", /control/],
    ["esc\u001b[31m", /control/],
    ["rtl\u202etxt.exe", /invisible direction/],
    ["bom\ufeff", /invisible/],
    ["lone\ud800", /valid Unicode/],
    ["a|b", /Windows forbids/],
    ["what?", /Windows forbids/],
    ["trailing.", /ends with a dot/],
    ["trailing ", /space/],
    ["CON", /reserved device/],
    ["nul.txt", /reserved device/],
    ["COM1.log", /reserved device/],
    ["lpt9", /reserved device/],
    ["x.p2pnode-part", /partial files/],
    ["x.p2pnode-part.json", /partial files/],
    ["a".repeat(MAX_NAME_BYTES + 1), /longer than/],
    ["é".repeat(MAX_NAME_BYTES / 2 + 1), /longer than/],
  ];
  for (const [name, re] of cases) {
    const why = unsafeName(name);
    assert.ok(why && re.test(why), `${JSON.stringify(name)}: ${why}`);
  }
});

test("plain names pass", () => {
  for (const name of ["photo.jpg", ".bashrc", "Résumé final (2).pdf", "日本語.txt", "a..b", "..hidden", "con-notes.txt", "a".repeat(MAX_NAME_BYTES)]) {
    assert.equal(unsafeName(name), undefined, name);
  }
});

test("names that collide on a case-insensitive, normalising filesystem share a key", () => {
  assert.equal(nameKey("Photo.JPG"), nameKey("photo.jpg"));
  assert.equal(nameKey("caf\u00e9"), nameKey("cafe\u0301"));
});
