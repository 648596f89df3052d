import assert from "node:assert/strict";
import { PROBLEM_CONTENT_TYPE, problemResponse } from "../../http/problem.ts";

Deno.test("problemResponse: the codes that mean retry later carry their Retry-After, a thrower's own wins, others carry none", async () => {
  const retryAfter = (response: Response) =>
    response.headers.get("retry-after");
  assert.equal(retryAfter(problemResponse("overloaded", "r1")), "1");
  assert.equal(retryAfter(problemResponse("timeout", "r1")), "1");
  assert.equal(retryAfter(problemResponse("sealed", "r1")), "5");
  assert.equal(
    retryAfter(
      problemResponse("overloaded", "r1", { headers: { "retry-after": "3" } }),
    ),
    "3",
  );
  assert.equal(retryAfter(problemResponse("not_found", "r1")), null);
  const answer = problemResponse("overloaded", "r1", { detail: "busy" });
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get("content-type"), PROBLEM_CONTENT_TYPE);
  assert.equal((await answer.json()).detail, "busy");
});
