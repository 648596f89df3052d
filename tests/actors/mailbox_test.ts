import assert from "node:assert/strict";
import { Mailbox } from "../../actors/mailbox.ts";

Deno.test("mailbox: items come out in the order they were offered, across wrap-around", () => {
  const box = new Mailbox<number>(3);
  const out: (number | undefined)[] = [];
  for (let i = 0; i < 10; i++) {
    assert.equal(box.offer(i), true);
    out.push(box.poll());
  }
  assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(box.poll(), undefined);
});

Deno.test("mailbox: offer returns false when full and keeps nothing", () => {
  const box = new Mailbox<number>(2);
  assert.equal(box.offer(1), true);
  assert.equal(box.offer(2), true);
  assert.equal(box.offer(3), false);
  assert.equal(box.size, 2);
  assert.deepEqual(box.drain(), [1, 2]);
  assert.equal(box.size, 0);
});

Deno.test("mailbox: offerFront puts a retry first and may use the spare slot of a full box", () => {
  const box = new Mailbox<string>(2);
  box.offer("a");
  const taken = box.poll()!;
  box.offer("b");
  box.offer("c");
  assert.equal(box.offerFront(taken), true);
  assert.equal(box.size, 3);
  assert.equal(box.offerFront("x"), false);
  assert.deepEqual(box.drain(), ["a", "b", "c"]);
});

Deno.test("mailbox: a capacity that is not a positive integer is refused", () => {
  assert.throws(() => new Mailbox(0), RangeError);
  assert.throws(() => new Mailbox(1.5), RangeError);
});

Deno.test("mailbox: the buffer grows past its first size up to the capacity, keeping order across wrap-around", () => {
  const box = new Mailbox<number>(100);
  let next = 0;
  let expected = 0;
  for (let round = 0; round < 5; round++) {
    while (box.offer(next)) next++;
    assert.equal(box.size, 100);
    for (let i = 0; i < 37; i++) assert.equal(box.poll(), expected++);
  }
  assert.ok(
    box.offerFront(-1),
    "the spare slot takes a retry even when full after growing",
  );
  assert.equal(box.poll(), -1);
  for (let item = box.poll(); item !== undefined; item = box.poll()) {
    assert.equal(item, expected++);
  }
  assert.equal(expected, next);
});
