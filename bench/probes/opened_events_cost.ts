/**
 * What keeping one event costs the opened-events cache at its bound (8,192
 * events): 300,000 events of 256 bytes kept one after another, each past
 * the bound, as a steady delivery or fan-out does. Prints µs per event kept.
 *
 * `deno run -A bench/probes/opened_events_cost.ts`
 *
 * @module
 */

import { say } from "../log.ts";
import { OpenedEvents } from "../../store/sqlite/opened_events.ts";
import type { Cipher, EventRecord } from "../../store/mod.ts";

const EVENTS = 300_000;
const cipher = {} as Cipher;
const event = (seq: number): EventRecord => ({
  seq,
  id: `e${seq}`,
  topicId: "t1",
  method: "POST",
  path: "",
  query: "",
  contentType: "application/json",
  headers: {},
  body: new Uint8Array(256),
  sender: "root",
  receivedAt: 0,
  idempotencyKey: null,
});

const kept = new OpenedEvents();
for (let seq = 0; seq < 20_000; seq++) kept.set(cipher, event(seq));
const events = Array.from({ length: EVENTS }, (_, i) => event(20_000 + i));
for (let round = 1; round <= 3; round++) {
  const started = performance.now();
  for (const e of events) {
    kept.set(cipher, { ...e, seq: e.seq + round * EVENTS });
  }
  const us = (performance.now() - started) * 1000 / EVENTS;
  say(`round ${round}: ${us.toFixed(3)} µs per event kept (${kept.size} kept)`);
}
