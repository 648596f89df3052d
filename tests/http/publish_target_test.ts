import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AppEnv } from "../../http/env.ts";
import { headerCountLimit } from "../../http/middleware/limits.ts";
import { ProblemError } from "../../http/problem.ts";
import { splitTarget } from "../../http/routes/events.ts";
import { isTopicName, TOPIC_NAME } from "../../http/routes/names.ts";

Deno.test("splitTarget: the path and query of a request URL as sent, fragment dropped", () => {
  const cases: [string, string, string][] = [
    ["http://h:1/topics/a", "/topics/a", ""],
    ["http://h:1/topics/a?", "/topics/a", ""],
    ["http://h:1/topics/a/b/c?x=1&y=%20", "/topics/a/b/c", "x=1&y=%20"],
    ["http://h:1/topics/a?x=1#frag", "/topics/a", "x=1"],
    ["http://h:1/topics/a#frag?not-a-query", "/topics/a", ""],
    ["http://h:1/topics/a?x=/y?z", "/topics/a", "x=/y?z"],
    ["https://user@h/t", "/t", ""],
    ["http://h", "/", ""],
  ];
  for (const [url, path, query] of cases) {
    assert.deepEqual(splitTarget(url), { path, query }, url);
  }
});

Deno.test("isTopicName agrees with the TOPIC_NAME schema", () => {
  const names = [
    "",
    "a",
    "orders.v1",
    "a_b-c.d",
    "0start",
    ".dot",
    "-dash",
    "Upper",
    "with space",
    "slash/no",
    "x".repeat(128),
    "x".repeat(129),
    "ü",
  ];
  for (const name of names) {
    assert.equal(
      isTopicName(name),
      TOPIC_NAME.safeParse(name).success,
      JSON.stringify(name),
    );
  }
  assert.equal(isTopicName("x".repeat(128)), true);
  assert.equal(isTopicName("x".repeat(129)), false);
});

Deno.test("headerCountLimit: at most max header fields pass, one more is 431", async () => {
  const app = new Hono<AppEnv>();
  app.use("*", headerCountLimit(5));
  app.get("/", (c) => c.text("ok"));
  app.onError((error, c) =>
    error instanceof ProblemError
      ? c.text(error.code, 431)
      : c.text(String(error), 500)
  );
  const headers = (n: number) =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`x-h${i}`, String(i)]),
    );
  const ok = await app.request("/", { headers: headers(5) });
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), "ok");
  const flood = await app.request("/", { headers: headers(6) });
  assert.equal(flood.status, 431);
  assert.equal(await flood.text(), "too_many_headers");
});
