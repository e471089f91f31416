import assert from "node:assert/strict";
import { test } from "node:test";
import { NodeClosedError } from "../../src/errors.ts";
import { Closable, LifecycleState } from "../../src/util/closable.ts";

class Thing extends Closable {
  calls: string[] = [];
  release?: () => void;
  constructor() {
    super("thing");
  }
  protected override async onClose(): Promise<void> {
    this.calls.push("close");
    await new Promise<void>((r) => (this.release = r));
  }
  protected override async onDestroy(err?: Error): Promise<void> {
    this.calls.push(`destroy:${err?.message ?? "-"}`);
  }
}

test("close() is memoized: two calls, one teardown, the same promise; lifetime aborts at once", async () => {
  const t = new Thing();
  const a = t.close();
  const b = t.close();
  assert.equal(a, b);
  assert.equal(t.closed, true);
  assert.ok(t.lifetime.reason instanceof NodeClosedError);
  t.release!();
  await a;
  assert.deepEqual(t.calls, ["close"]);
});

test("destroy() during a graceful close forces teardown; later close() returns the destroy", async () => {
  const t = new Thing();
  const closing = t.close();
  const d = t.destroy(new Error("boom"));
  await d;
  assert.equal(t.close(), d);
  assert.equal(t.destroy(), d);
  assert.deepEqual(t.calls, ["close", "destroy:boom"]);
  t.release!();
  await closing;
});

test("destroy(err) makes err the lifetime's reason; a throwing teardown never rejects", async () => {
  const err = new Error("fatal");
  const s = new LifecycleState("x", async () => {
    throw new Error("close failed");
  });
  await s.destroy(err);
  assert.equal(s.lifetime.reason, err);
  const s2 = new LifecycleState("y", async () => {
    throw new Error("close failed");
  });
  await assert.doesNotReject(s2.close());
});
