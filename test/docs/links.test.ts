/** The user docs' relative links land: the file exists and, for `#anchor`, a heading makes that anchor (GitHub's slugs). */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";

const root = new URL("../..", import.meta.url).pathname;
const PAGES = ["README.md", "docs/cli.md", "docs/deployment.md", "docs/troubleshooting.md", "docs/security.md"];

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/^```[\s\S]*?^```$/gm, "");
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

test("slug() makes GitHub's anchors", () => {
  assert.equal(slug("coturn (TURN and STUN)"), "coturn-turn-and-stun");
  assert.equal(slug("`P2P_ERR_TIMEOUT` — TimeoutError"), "p2p_err_timeout--timeouterror");
  assert.equal(slug("p2pnode listen"), "p2pnode-listen");
});

for (const page of PAGES) {
  test(`${page}: every relative link and anchor resolves`, () => {
    const text = readFileSync(join(root, page), "utf8").replace(/^```[\s\S]*?^```$/gm, "");
    let n = 0;
    for (const m of text.matchAll(/\]\(([^)\s]*)\)/g)) {
      const target = m[1];
      if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#");
      const file = path ? join(root, dirname(page), path) : join(root, page);
      assert.ok(existsSync(file), `${page}: link ${target}: ${path} does not exist`);
      if (anchor !== undefined && file.endsWith(".md")) assert.ok(anchors(file).has(anchor), `${page}: link ${target}: no heading makes #${anchor}`);
      n++;
    }
    assert.ok(n > 0, `${page} has links`);
  });
}
