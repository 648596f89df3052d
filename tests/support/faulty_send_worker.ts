/**
 * The delivery worker with two faults for tests of the worker sender: a
 * request whose path ends in `/crash` makes the worker throw (the way a bug
 * would), and one ending in `/ignore` is never answered. Everything else goes
 * to the real worker.
 *
 * @module
 */

import "../../delivery/send_worker.ts";
import type { SendWorkerScope } from "../../delivery/send_worker.ts";
import type { ToWorker } from "../../delivery/send_protocol.ts";

const scope = self as unknown as SendWorkerScope;
const real = scope.onmessage!;
scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (message.type === "send") {
    if (message.requests.some((r) => r.url.endsWith("/crash"))) {
      throw new Error("a fault injected by the test");
    }
    const requests = message.requests.filter((r) => !r.url.endsWith("/ignore"));
    return real(
      new MessageEvent("message", { data: { ...message, requests } }),
    );
  }
  return real(event);
};
