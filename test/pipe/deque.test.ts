import assert from "node:assert/strict";
import { test } from "node:test";
import { Deque } from "../../src/pipe/deque.ts";

test("deque: FIFO across growth and wrap-around, with unshiftAll and extract keeping order", () => {
  const d = new Deque<number>(2);
  const model: number[] = [];
  let n = 0;
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < (round % 7) + 1; i++) {
      d.push(n);
      model.push(n++);
    }
    for (let i = 0; i < round % 5; i++) assert.equal(d.shift(), model.shift());
    if (round % 13 === 0) {
      d.unshiftAll([-1, -2]);
      model.unshift(-1, -2);
    }
    if (round % 17 === 0) {
      const odd = (x: number) => x % 2 !== 0;
      assert.deepEqual(d.extract(odd), model.filter(odd));
      model.splice(0, model.length, ...model.filter((x) => !odd(x)));
    }
    assert.equal(d.length, model.length);
    assert.equal(d.peek(), model[0]);
  }
  assert.deepEqual(d.takeAll(), model);
  assert.equal(d.length, 0);
  assert.equal(d.shift(), undefined);
  assert.equal(d.peek(), undefined);
});
