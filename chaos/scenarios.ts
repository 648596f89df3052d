/**
 * The chaos scenarios: each runs real processes on loopback, is bounded in
 * time and request count, and returns its accounting row (accepted,
 * delivered, dead-lettered, duplicated, lost, time) plus notes.
 *
 * @module
 */

import { call } from "../tests/support/identity_client.ts";
import { fuzz, rssMiB } from "./lib/fuzz.ts";
import { ChaosNode, metricSum, readyStatus } from "./lib/miranda.ts";
import {
  account,
  percentile,
  startPublisher,
  waitFor,
} from "./lib/publisher.ts";
import { type AccountingRow, report } from "./lib/report.ts";
import { drain, expecting, sumRows } from "./lib/rows.ts";
import { startResettingSink, startSink } from "./lib/sink.ts";
import {
  answersOnNewConnection,
  openUntilRefused,
} from "../tests/support/idle_connections.ts";

/** Sizes of a run: full or `--quick`. */
export interface Scale {
  quick: boolean;
}

/** kill -9 at random moments during a run with 5 subscriptions; restart each time; drain. */
export async function killLoop(scale: Scale): Promise<AccountingRow> {
  const total = scale.quick ? 5_000 : 50_000;
  const kills = scale.quick ? 3 : 10;
  const started = performance.now();
  await using sink = startSink();
  await using node = await ChaosNode.start();
  await node.createTopic("kill");
  const paths = [1, 2, 3, 4, 5].map((i) => `/hook/k${i}`);
  for (const [i, path] of paths.entries()) {
    await node.subscribe({
      topic: "kill",
      url: `${sink.url}${path}`,
      livenessUrl: `${sink.url}/live${path.slice(5)}`,
      ordered: i === 0,
      maxInFlight: i === 0 ? 1 : 32,
      timeoutMs: 2_000,
    });
  }
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "kill" }),
    { concurrency: 16, total },
  );
  // Kill points spread at random over the accepted count.
  const points = Array.from(
    { length: kills },
    () => Math.floor(Math.random() * total * 0.9),
  ).sort((a, b) => a - b);
  const recoveries: number[] = [];
  for (const point of points) {
    await publisher.acceptedAtLeast(point);
    if (publisher.tally.accepted.length >= total * 0.95) break;
    await node.kill();
    const t = performance.now();
    await node.launch();
    recoveries.push(performance.now() - t);
  }
  await publisher.done;
  const accepted = publisher.tally.accepted;
  const drained = await drain(
    sink,
    paths,
    accepted,
    scale.quick ? 60_000 : 300_000,
  );
  const results = paths.map((p) => account(accepted, sink.hook(p).accepted));
  const seconds = (performance.now() - started) / 1000;
  const row = sumRows(
    `kill -9 loop (${recoveries.length} kills, ${total} requests)`,
    results,
    seconds,
    `drained ${drained}; restart to listening p50 ${
      percentile(recoveries, 50).toFixed(0)
    } ms; refused/failed publishes ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }`,
  );
  return expecting(row, [
    recoveries.length === 0 && "no kill happened",
    !drained && "not every accepted event was delivered in time",
    !node.running && "the node ended by itself after a restart",
    publisher.tally.nonProblem > 0 &&
    `${publisher.tally.nonProblem} refusals were not problem+json`,
  ]);
}

/** Five hostile subscribers: 500s (dead-letter), hangs, resets, slow, flapping. */
export async function hostile(scale: Scale): Promise<AccountingRow> {
  const total = scale.quick ? 300 : 2_000;
  const started = performance.now();
  await using sink = startSink();
  await using resetting = startResettingSink(0.3);
  await using node = await ChaosNode.start();
  await node.createTopic("hostile");
  sink.behave("/hook/fail", { kind: "flaky", rate: 0.6 });
  sink.behave("/hook/hang", { kind: "hang", rate: 0.2 });
  sink.behave("/hook/slow", { kind: "slow", ms: 150 });
  sink.behave("/hook/flap", { kind: "flap", upMs: 700, downMs: 700 });
  const deadLetterId = await node.subscribe({
    topic: "hostile",
    url: `${sink.url}/hook/fail`,
    ordered: false,
    maxInFlight: 8,
    failurePolicy: { mode: "deadLetter", maxAttempts: 2 },
    timeoutMs: 1_000,
  });
  for (const name of ["hang", "slow", "flap"]) {
    await node.subscribe({
      topic: "hostile",
      url: `${sink.url}/hook/${name}`,
      livenessUrl: `${sink.url}/live/${name}`,
      ordered: name === "flap",
      maxInFlight: name === "flap" ? 1 : 16,
      timeoutMs: 300,
    });
  }
  await node.subscribe({
    topic: "hostile",
    url: `${resetting.url}/hook/reset`,
    livenessUrl: `${resetting.url}/live/reset`,
    ordered: false,
    maxInFlight: 8,
    timeoutMs: 1_000,
  });
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "hostile" }),
    { concurrency: 8, total },
  );
  await publisher.done;
  const accepted = publisher.tally.accepted;
  const failedIds = new Set<string>();
  const settledFail = async () => {
    failedIds.clear();
    let after = 0;
    for (;;) {
      const page = await call(
        node.url,
        "GET",
        `/api/v1/subscriptions/${deadLetterId}/failed?after=${after}&limit=1000`,
        { bearer: node.bearer },
      );
      const items = page.body["items"] as { eventId: string; seq: number }[];
      for (const item of items) failedIds.add(item.eventId);
      if (page.body["next"] === null) break;
      after = Number(page.body["next"]);
    }
    const log = sink.hook("/hook/fail").accepted;
    return accepted.every((id) => log.has(id) || failedIds.has(id));
  };
  const waitMs = scale.quick ? 60_000 : 180_000;
  const drained = await drain(
    sink,
    ["/hook/hang", "/hook/slow", "/hook/flap"],
    accepted,
    waitMs,
  ) &&
    await waitFor(
      () => accepted.every((id) => resetting.log.accepted.has(id)),
      { deadlineMs: waitMs },
    ) &&
    await waitFor(settledFail, { deadlineMs: waitMs, everyMs: 500 });
  await settledFail();
  const failLog = new Map(sink.hook("/hook/fail").accepted);
  for (const id of failedIds) if (!failLog.has(id)) failLog.set(id, 1);
  const results = [
    account(accepted, failLog),
    ...["/hook/hang", "/hook/slow", "/hook/flap"].map((p) =>
      account(accepted, sink.hook(p).accepted)
    ),
    account(accepted, resetting.log.accepted),
  ];
  const metrics = await node.metrics();
  const seconds = (performance.now() - started) / 1000;
  const restarts = metricSum(metrics, "miranda_actor_restarts_total");
  const row = sumRows(
    `hostile subscribers (${total} requests)`,
    results,
    seconds,
    `drained ${drained}; liveness probes ${sink.probes()}; ` +
      `failed attempts ${
        metricSum(metrics, "miranda_delivery_failures_total")
      }; courier restarts ${restarts}; process up ${node.running}`,
    [...failedIds].filter((id) => !sink.hook("/hook/fail").accepted.has(id))
      .length,
  );
  return expecting(row, [
    !drained &&
    "not every accepted event was delivered or dead-lettered in time",
    row.deadLettered === 0 &&
    "nothing was dead-lettered, though /hook/fail refuses 60 % of attempts",
    sink.probes() === 0 && "no liveness probe reached the sink",
    restarts > 0 && `${restarts} actor restarts (a courier got stuck or broke)`,
    !node.running && "the node ended by itself",
  ]);
}

/** Random actor panics (fault injection) under panic mode continue. */
export async function panics(scale: Scale): Promise<AccountingRow> {
  const total = scale.quick ? 600 : 5_000;
  const started = performance.now();
  await using sink = startSink();
  await using node = await ChaosNode.start({
    args: ["--panic-mode", "continue"],
    env: { MIRANDA_FAULT_INJECTION: "1", MIRANDA_FAULT_PANIC_RATE: "0.03" },
  });
  await node.createTopic("panics");
  const paths = ["/hook/p1", "/hook/p2", "/hook/p3"];
  for (const [i, path] of paths.entries()) {
    await node.subscribe({
      topic: "panics",
      url: `${sink.url}${path}`,
      livenessUrl: `${sink.url}/live/p${i + 1}`,
      ordered: i === 0,
      maxInFlight: i === 0 ? 1 : 16,
      timeoutMs: 2_000,
    });
  }
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "panics" }),
    { concurrency: 8, total },
  );
  await publisher.done;
  const accepted = publisher.tally.accepted;
  const drained = await drain(sink, paths, accepted, 120_000);
  const metrics = await node.metrics();
  const results = paths.map((p) => account(accepted, sink.hook(p).accepted));
  const injected = metricSum(metrics, "miranda_actor_panics_total");
  const row = sumRows(
    `panics at 3% (${total} requests)`,
    results,
    (performance.now() - started) / 1000,
    `drained ${drained}; panics ${
      metricSum(metrics, "miranda_actor_panics_total")
    }, restarts ${metricSum(metrics, "miranda_actor_restarts_total")}, poison ${
      metricSum(metrics, "miranda_actor_poison_messages_total")
    }, escalations ${
      metricSum(metrics, "miranda_supervisor_escalations_total")
    }; process up ${node.running}; refused ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }`,
  );
  return expecting(row, [
    injected === 0 && "no panic was injected",
    !drained && "not every accepted event was delivered in time",
    !node.running && "the process exited under panic mode continue",
  ]);
}

/** What the disk-full node zero-fills its WAL to: a third of the tmpfs. */
const DISK_FULL_WAL_BYTES = 16 * 1024 * 1024;

/**
 * A full disk: the data directory on a small tmpfs, filled mid-run with a
 * filler file, then freed. Needs `mount` (root); skipped otherwise.
 */
export async function diskFull(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const root = await Deno.makeTempDir({ prefix: "miranda-chaos-disk-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=48m", "tmpfs", root],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  if (!mounted.success) {
    await Deno.remove(root, { recursive: true });
    return {
      scenario: "disk full",
      accepted: 0,
      delivered: 0,
      duplicated: 0,
      lost: 0,
      seconds: 0,
      skipped: "mounting a tmpfs is not permitted here",
    };
  }
  const filler = `${root}/filler`;
  try {
    await using sink = startSink();
    // The default 80 MiB WAL fill does not fit this tmpfs; 16 MiB does, and
    // a node whose log was filled is what a full disk meets in production
    // (commits go on into the filled log until it must grow).
    await using node = await ChaosNode.start({
      root,
      args: ["--wal-preallocate-bytes", String(DISK_FULL_WAL_BYTES)],
    });
    const walBytes = await node.walBytes();
    await node.createTopic("disk");
    await node.subscribe({
      topic: "disk",
      url: `${sink.url}/hook/disk`,
      livenessUrl: `${sink.url}/live/disk`,
      ordered: false,
      maxInFlight: 16,
      timeoutMs: 2_000,
    });
    const body = (n: number) => JSON.stringify({ n, pad: "x".repeat(2_000) });
    const publisher = startPublisher(
      () => ({ url: node.lastUrl, bearer: node.bearer, topic: "disk" }),
      { concurrency: 8, total: scale.quick ? 3_000 : 6_000, body },
    );
    await publisher.acceptedAtLeast(500);
    const panicsBefore = metricSum(
      await node.metrics(),
      "miranda_actor_panics_total",
    );
    // Fill the file system to the last byte.
    const file = await Deno.open(filler, { create: true, write: true });
    const chunk = new Uint8Array(1024 * 1024);
    try {
      for (;;) await file.write(chunk);
    } catch { /* full */ }
    const small = new Uint8Array(4096);
    try {
      for (;;) await file.write(small);
    } catch { /* full to the last page */ }
    file.close();
    const acceptedAtFull = publisher.tally.accepted.length;
    const othersAtFull = new Map(publisher.tally.others);
    // `/readyz` while full, every 100 ms: a write that finds room the WAL
    // already held may turn it back for a moment, so one 503 is the test.
    const readyWhileFull = new Map<number, number>();
    const fullUntil = performance.now() + 3_000;
    while (performance.now() < fullUntil) {
      const status = await readyStatus(node.lastUrl);
      readyWhileFull.set(status, (readyWhileFull.get(status) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 100));
    }
    const acceptedWhileFull = publisher.tally.accepted.length - acceptedAtFull;
    const refusedWhileFull = [...publisher.tally.others].map((
      [k, v],
    ) => [k, v - (othersAtFull.get(k) ?? 0)]).filter(([, v]) => Number(v) > 0);
    const alive = node.running;
    const panics = alive
      ? metricSum(await node.metrics(), "miranda_actor_panics_total") -
        panicsBefore
      : -1;
    await Deno.remove(filler);
    const acceptedAtFreed = publisher.tally.accepted.length;
    if (!node.running) await node.launch();
    const readyAgain = await waitFor(
      async () => await readyStatus(node.url) === 200,
      { deadlineMs: 10_000, everyMs: 100 },
    );
    await publisher.done;
    const acceptedAfter = publisher.tally.accepted.length - acceptedAtFreed;
    const accepted = publisher.tally.accepted;
    const drained = await drain(sink, ["/hook/disk"], accepted, 60_000);
    const result = account(accepted, sink.hook("/hook/disk").accepted);
    const errors = node.allLogs().split("\n").filter((l) =>
      /"level":"error"|Could not record|log could not be extended/.test(l)
    );
    const kinds = new Map<string, number>();
    for (const line of errors) {
      const msg = /"msg":"([^"]*)"/.exec(line)?.[1] ?? "?";
      const err = /"error(?:Message)?":"([^"]{0,80})/.exec(line)?.[1] ?? "";
      const key = `${msg}: ${err}`;
      kinds.set(key, (kinds.get(key) ?? 0) + 1);
    }
    for (const [kind, n] of kinds) report(`  disk: ${n} × ${kind}`);
    const unavailable = refusedWhileFull.find(([k]) =>
      k === "503 store_unavailable"
    );
    const row = sumRows(
      "disk full (tmpfs 48 MiB, filled 3 s)",
      [result],
      (performance.now() - started) / 1000,
      `WAL zero-filled to ${
        (walBytes / 1024 / 1024).toFixed(0)
      } MiB; drained ${drained}; accepted while full ${acceptedWhileFull}; refused while full ${
        JSON.stringify(Object.fromEntries(refusedWhileFull))
      }; process up while full ${alive}, actor panics ${panics}; /readyz while full ${
        JSON.stringify(Object.fromEntries(readyWhileFull))
      }, 200 again once freed ${readyAgain}; accepted once freed ${acceptedAfter}; exits ${
        JSON.stringify(node.exits.map((e) => e.code))
      }`,
    );
    return expecting(row, [
      walBytes < DISK_FULL_WAL_BYTES &&
      `the WAL was ${walBytes} bytes at start, not zero-filled`,
      unavailable === undefined &&
      "no publish was answered 503 store_unavailable while the disk was full",
      !alive && "the node ended while the disk was full",
      panics > 0 && `${panics} actor panics while the disk was full`,
      alive && !readyWhileFull.has(503) &&
      "/readyz never answered 503 while the disk was full",
      !readyAgain &&
      "/readyz did not answer 200 within 10 s of space returning",
      acceptedAfter === 0 && "no publish was accepted once space returned",
      !drained && "not every accepted event was delivered in time",
      publisher.tally.nonProblem > 0 &&
      `${publisher.tally.nonProblem} refusals were not problem+json`,
    ]);
  } finally {
    await Deno.remove(filler).catch(() => {});
    await new Deno.Command("umount", { args: [root] }).output();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/** ≥ 10,000 fuzzed requests; memory sampled as it goes. */
export async function fuzzing(scale: Scale): Promise<AccountingRow> {
  const count = scale.quick ? 2_000 : 10_000;
  const started = performance.now();
  await using node = await ChaosNode.start();
  await node.createTopic("fuzz");
  const pid = node.server!.child.pid;
  const rss: number[] = [await rssMiB(pid)];
  // What the node keeps (V8's live heap, metric series) beside what the
  // process holds: RSS rises while V8 sizes its heap to the load.
  const heap: number[] = [];
  const series: number[] = [];
  const sampleMetrics = async () => {
    const text = await node.metrics();
    heap.push(metricSum(text, "nodejs_heap_size_used_bytes") / 2 ** 20);
    series.push(
      text.split("\n").filter((line) => line !== "" && !line.startsWith("#"))
        .length,
    );
  };
  await sampleMetrics();
  const seed = Date.now() % 2 ** 31;
  const failures: string[] = [];
  const statuses = new Map<number, number>();
  let sent = 0;
  const rounds = Math.ceil(count / 2_000);
  for (let round = 0; round < rounds; round++) {
    const tally = await fuzz(node.url, node.bearer, {
      count: 2_000,
      concurrency: 8,
      seed: seed + round,
    });
    sent += tally.sent;
    failures.push(...tally.failures);
    for (const [s, n] of tally.statuses) {
      statuses.set(s, (statuses.get(s) ?? 0) + n);
    }
    rss.push(await rssMiB(pid));
    await sampleMetrics();
  }
  for (const failure of failures.slice(0, 20)) report(`  fuzz: ${failure}`);
  const path = (values: number[]) =>
    values.map((v) => v.toFixed(0)).join(" → ");
  return expecting({
    scenario: `fuzz (${sent} requests, seed ${seed})`,
    accepted: 0,
    delivered: 0,
    duplicated: 0,
    lost: 0,
    seconds: (performance.now() - started) / 1000,
    notes: `broken answers ${failures.length}; statuses ${
      JSON.stringify(Object.fromEntries(statuses))
    }; RSS MiB per 2,000 ${path(rss)}; V8 heap used MiB ${
      path(heap)
    }; metric series ${path(series)}; process up ${node.running}`,
  }, [
    failures.length > 0 && `${failures.length} broken answers`,
    !node.running && "the node ended",
  ]);
}

/** The flooding publisher's rate limit, far above the well-behaved client's 50/s. */
const FLOODER_RATE = 200;

/**
 * Many idle and slow connections plus bursts over the limits — forged
 * tokens (the failed-authentication limit) and another user publishing as
 * fast as it can (the per-user publish rate) — and a well-behaved client's
 * latency meanwhile.
 */
export async function slowloris(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const idle = scale.quick ? 300 : 1_000;
  await using node = await ChaosNode.start({
    args: [
      "--auth-failures-per-minute",
      "30",
      "--mailbox-capacity",
      "512",
      "--publish-rate-per-second",
      String(FLOODER_RATE),
    ],
  });
  await node.createTopic("calm");
  const flooderBearer = await node.publisher("flooder", "calm");
  const { hostname, port } = new URL(node.url);
  const probe = async (samples: number[], until: () => boolean) => {
    while (until()) {
      const t = performance.now();
      const res = await fetch(`${node.url}/topics/calm`, {
        method: "POST",
        headers: { authorization: `Bearer ${node.bearer}` },
        body: "{}",
      });
      await res.body?.cancel();
      if (res.status === 202) samples.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const baseline: number[] = [];
  let count = 0;
  await probe(baseline, () => count++ < 100);

  // Idle connections, half of them trickling a header byte now and then.
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < idle; i++) {
    try {
      const conn = await Deno.connect({ hostname, port: Number(port) });
      conns.push(conn);
      if (i % 2 === 0) {
        await conn.write(
          new TextEncoder().encode("POST /topics/calm HTTP/1.1\r\n"),
        );
      }
    } catch {
      break;
    }
  }
  const trickle = setInterval(() => {
    for (const [i, conn] of conns.entries()) {
      if (i % 2 === 0) {
        conn.write(new TextEncoder().encode(`x-slow-${Date.now()}: y\r\n`))
          .catch(() => {});
      }
    }
  }, 1_000);
  let attacking = true;
  // Answers by flooder kind and status ("publish 429").
  const floodTally = new Map<string, number>();
  const tally = (key: string) =>
    floodTally.set(key, (floodTally.get(key) ?? 0) + 1);
  const flood = async (kind: "forged" | "publish") => {
    while (attacking) {
      try {
        const res = await fetch(`${node.url}/topics/calm`, {
          method: "POST",
          headers: {
            authorization: kind === "forged"
              ? "Bearer forged-token-0123456789abcdef"
              : `Bearer ${flooderBearer}`,
          },
          body: "{}",
        });
        await res.body?.cancel();
        tally(`${kind} ${res.status}`);
      } catch {
        tally(`${kind} failed`);
      }
    }
  };
  const attackers = [
    ...Array.from({ length: 16 }, () => flood("forged")),
    ...Array.from({ length: 32 }, () => flood("publish")),
  ];
  const during: number[] = [];
  const attackEnds = performance.now() + (scale.quick ? 5_000 : 20_000);
  await probe(during, () => performance.now() < attackEnds);
  attacking = false;
  await Promise.all(attackers);
  clearInterval(trickle);
  let stillOpen = 0;
  for (const conn of conns) {
    try {
      await conn.write(new TextEncoder().encode("\r\n"));
      stillOpen++;
    } catch { /* closed by the server */ }
    try {
      conn.close();
    } catch { /* closed */ }
  }
  const ms = (v: number) => v.toFixed(1);
  return expecting({
    scenario:
      `slowloris + floods (${conns.length} idle/slow conns, 48 flooders)`,
    accepted: 0,
    delivered: 0,
    duplicated: 0,
    lost: 0,
    seconds: (performance.now() - started) / 1000,
    notes:
      `well-behaved publish p50/p99 ms: before ${
        ms(percentile(baseline, 50))
      }/${ms(percentile(baseline, 99))}, during ${ms(percentile(during, 50))}/${
        ms(percentile(during, 99))
      } (${during.length} samples); ` +
      `flood answers ${JSON.stringify(Object.fromEntries(floodTally))}; ` +
      `slow connections still open at the end ${stillOpen}; process up ${node.running}`,
  }, [
    during.length === 0 &&
    "no well-behaved publish was accepted during the attack",
    !floodTally.has("forged 429") &&
    "the forged tokens met no failed-authentication limit (no 429)",
    !floodTally.has("publish 429") &&
    "the flooding publisher met no publish rate limit (no 429)",
    !node.running && "the node ended",
  ]);
}

/**
 * Idle connections past the node's descriptor limit while events flow: each
 * round opens connections until one is refused (accepting failed and the
 * HTTP server stopped listening), holds them 2 s, drops them, and checks that
 * a new connection is answered. The node must listen again on its own and
 * lose nothing it accepted.
 */
export async function descriptors(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const limit = 512;
  const rounds = scale.quick ? 2 : 5;
  await using sink = startSink();
  await using node = await ChaosNode.start({ maxOpenFiles: limit });
  await node.createTopic("fds");
  await node.subscribe({
    topic: "fds",
    url: `${sink.url}/hook/fds`,
    livenessUrl: `${sink.url}/live/fds`,
    ordered: false,
    maxInFlight: 16,
    timeoutMs: 2_000,
  });
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "fds" }),
    // Publishing goes on through every round, until stopped after the last.
    { concurrency: 4, total: 1_000_000, backoffMs: 50 },
  );
  await publisher.acceptedAtLeast(200);
  const acceptedBefore = publisher.tally.accepted.length;
  let exhausted = 0;
  let reopened = 0;
  let mostHeld = 0;
  for (let round = 0; round < rounds; round++) {
    const { idle, refused } = await openUntilRefused(node.url, limit * 4);
    if (refused) exhausted++;
    mostHeld = Math.max(mostHeld, idle.length);
    await new Promise((r) => setTimeout(r, 2_000));
    for (const conn of idle) conn.close();
    // Connections already open stay served; a new one shows whether the
    // node listens again.
    if (await answersOnNewConnection(node.url, 10_000)) reopened++;
  }
  const acceptedDuring = publisher.tally.accepted.length - acceptedBefore;
  await publisher.stop();
  const accepted = publisher.tally.accepted;
  const drained = await drain(sink, ["/hook/fds"], accepted, 60_000);
  const result = account(accepted, sink.hook("/hook/fds").accepted);
  const restarts = node.running
    ? metricSum(await node.metrics(), "miranda_http_listener_restarts_total")
    : NaN;
  if (!node.running) {
    report(`  descriptors: the node ended; the end of its log:`);
    for (const line of node.allLogs().trim().split("\n").slice(-15)) {
      report(`    ${line.slice(0, 300)}`);
    }
  }
  const row = sumRows(
    `descriptors used up by idle connections (ulimit -n ${limit}), ${rounds} rounds`,
    [result],
    (performance.now() - started) / 1000,
    `drained ${drained}; rounds that ran the node out of descriptors ${exhausted} of ${rounds} (up to ${mostHeld} idle connections), after which a new connection was answered ${reopened}; listener restarts ${restarts}; accepted during the rounds ${acceptedDuring}; publishes not accepted ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }; process up ${node.running}; exits ${
      JSON.stringify(node.exits.map((e) => e.code))
    }`,
  );
  return expecting(row, [
    exhausted === 0 && "no round ran the node out of descriptors",
    reopened < rounds &&
    `a new connection went unanswered after ${
      rounds - reopened
    } of ${rounds} rounds`,
  ]);
}

/** How many users the `bodies` scenario's publishers are spread over. */
const BODY_USERS = 8;

/**
 * Far more publishers of bodies at the size limit than the node may hold at
 * once, as eight users, to a `received` topic (whose publishers do not wait
 * for the commit): the node must refuse the surplus — 429 `rate_limited`
 * past a user's share, 503 `overloaded` past the node's bound — rather than
 * hold it, stay up, and deliver everything it accepted. Its RSS is sampled
 * as it goes.
 */
export async function bodies(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const concurrency = scale.quick ? 128 : 512;
  const seconds = scale.quick ? 5 : 20;
  await using sink = startSink();
  await using node = await ChaosNode.start();
  await node.createTopic("bodies", "received");
  // Spread over users, so that the node-wide bound is met and not only each
  // user's share of it.
  const bearers: string[] = [];
  for (let i = 0; i < BODY_USERS; i++) {
    bearers.push(await node.publisher(`bodies-${i}`, "bodies"));
  }
  await node.subscribe({
    topic: "bodies",
    url: `${sink.url}/hook/bodies`,
    livenessUrl: `${sink.url}/live/bodies`,
    ordered: false,
    maxInFlight: 16,
    timeoutMs: 5_000,
  });
  const pid = node.server!.child.pid;
  // RSS samples as [seconds into the load, MiB]; under this load the
  // half-second timer runs late, so each keeps its own time.
  const rss: [number, number][] = [[0, await rssMiB(pid)]];
  // The node's default body limit is 1 MiB.
  const pad = "x".repeat(1024 * 1024 - 64);
  let turn = 0;
  const publisher = startPublisher(
    () => ({
      url: node.lastUrl,
      bearer: bearers[turn++ % bearers.length]!,
      topic: "bodies",
    }),
    {
      concurrency,
      total: Number.MAX_SAFE_INTEGER,
      body: (n) => JSON.stringify({ n, pad }),
    },
  );
  const loadStarted = performance.now();
  const ends = loadStarted + seconds * 1000;
  while (performance.now() < ends) {
    await new Promise((r) => setTimeout(r, 500));
    rss.push([(performance.now() - loadStarted) / 1000, await rssMiB(pid)]);
  }
  await publisher.stop();
  const accepted = publisher.tally.accepted;
  const drained = await drain(sink, ["/hook/bodies"], accepted, 120_000);
  const result = account(accepted, sink.hook("/hook/bodies").accepted);
  const overloaded = publisher.tally.others.get("503 overloaded") ?? 0;
  const overShare = publisher.tally.others.get("429 rate_limited") ?? 0;
  const row = sumRows(
    `bodies at the 1 MiB limit from ${concurrency} publishers for ${seconds} s (received topic)`,
    [result],
    (performance.now() - started) / 1000,
    `drained ${drained}; RSS MiB idle ${rss[0]![1].toFixed(0)}, peak ${
      Math.max(...rss.map(([, v]) => v).filter((v) => !Number.isNaN(v)))
        .toFixed(0)
    }, sampled ${
      rss.map(([t, v]) => `${v.toFixed(0)} at ${t.toFixed(0)} s`).join(", ")
    }; refused ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }; process up ${node.running}`,
  );
  return expecting(row, [
    accepted.length === 0 && "nothing was accepted",
    overloaded === 0 && "no publish was refused 503 overloaded",
    overShare === 0 && "no publish was refused 429 past its user's share",
    !drained && "not every accepted event was delivered in time",
    !node.running && "the node ended",
    publisher.tally.nonProblem > 0 &&
    `${publisher.tally.nonProblem} refusals were not problem+json`,
  ]);
}

/**
 * One request of a slow uploader: `head` (the headers and the start of a
 * body declared far larger) on `conn`, then a byte every 250 ms until the
 * node answers or `going()` turns false. The answer's status, or why there
 * was none.
 */
async function slowUpload(
  conn: Deno.Conn,
  head: Uint8Array,
  going: () => boolean,
): Promise<string> {
  await conn.write(head);
  const buffer = new Uint8Array(4096);
  let answer: string | undefined;
  conn.read(buffer).then(
    (n) => {
      const text = n === null
        ? ""
        : new TextDecoder().decode(buffer.subarray(0, n));
      answer = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? "closed";
    },
    () => answer = "failed",
  );
  const byte = new TextEncoder().encode("x");
  while (answer === undefined && going()) {
    await new Promise((r) => setTimeout(r, 250));
    if (answer === undefined) await conn.write(byte).catch(() => {});
  }
  return answer ?? "stopped";
}

/**
 * Authenticated slow uploaders: one user's connections each declare a body
 * at the size limit and send a byte every 250 ms, starting again whenever
 * answered, while another user publishes small events. The node must
 * answer the slow ones 408 `request_timeout` (past
 * `--body-read-timeout-ms`, 2 s here) or 429 `rate_limited` (past the
 * user's share of the body budget), never refuse the other user 503
 * `overloaded`, stay up and deliver everything it accepted.
 */
export async function slowBodies(scale: Scale): Promise<AccountingRow> {
  const started = performance.now();
  const uploaders = scale.quick ? 16 : 64;
  const seconds = scale.quick ? 5 : 20;
  await using sink = startSink();
  await using node = await ChaosNode.start({
    args: ["--body-read-timeout-ms", "2000"],
  });
  await node.createTopic("uploads");
  await node.subscribe({
    topic: "uploads",
    url: `${sink.url}/hook/uploads`,
    livenessUrl: `${sink.url}/live/uploads`,
    ordered: false,
    maxInFlight: 16,
    timeoutMs: 5_000,
  });
  const slowBearer = await node.publisher("slow", "uploads");
  const { hostname, port } = new URL(node.url);
  const head = new TextEncoder().encode(
    `POST /topics/uploads HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
      `Authorization: Bearer ${slowBearer}\r\n` +
      // At the body limit: sixteen of them fill the node's default budget.
      `Content-Type: application/json\r\nContent-Length: ${
        1024 * 1024
      }\r\n\r\n{"pad":"`,
  );
  let attacking = true;
  const answers = new Map<string, number>();
  const timedOutAfter: number[] = [];
  const upload = async () => {
    while (attacking) {
      const begun = performance.now();
      let answer = "failed";
      let conn: Deno.Conn | undefined;
      try {
        conn = await Deno.connect({ hostname, port: Number(port) });
        answer = await slowUpload(conn, head, () => attacking);
      } catch { /* counted as failed */ }
      try {
        conn?.close();
      } catch { /* closed */ }
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
      if (answer === "408") timedOutAfter.push(performance.now() - begun);
      // A refused upload starts again a little later, not in a tight loop.
      if (answer !== "408" && attacking) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const attack = Array.from({ length: uploaders }, upload);
  const publisher = startPublisher(
    () => ({ url: node.lastUrl, bearer: node.bearer, topic: "uploads" }),
    {
      concurrency: 4,
      total: Number.MAX_SAFE_INTEGER,
      body: (n) => JSON.stringify({ n }),
    },
  );
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await publisher.stop();
  attacking = false;
  await Promise.all(attack);
  const accepted = publisher.tally.accepted;
  const drained = await drain(sink, ["/hook/uploads"], accepted, 60_000);
  const result = account(accepted, sink.hook("/hook/uploads").accepted);
  const overloaded = publisher.tally.others.get("503 overloaded") ?? 0;
  const row = sumRows(
    `slow uploads: ${uploaders} connections of one user trickling 1 MiB bodies for ${seconds} s, another user publishing`,
    [result],
    (performance.now() - started) / 1000,
    `drained ${drained}; slow uploads answered ${
      JSON.stringify(Object.fromEntries(answers))
    }; 408 after ${
      percentile(timedOutAfter, 50).toFixed(0)
    } ms (p50); other user's publishes p50/p99 ${
      percentile(publisher.tally.latencies, 50).toFixed(1)
    }/${percentile(publisher.tally.latencies, 99).toFixed(1)} ms, refused ${
      JSON.stringify(Object.fromEntries(publisher.tally.others))
    }; process up ${node.running}`,
  );
  return expecting(row, [
    !answers.has("408") && "no slow upload was answered 408",
    !answers.has("429") && "no slow upload was refused past its user's share",
    accepted.length === 0 && "the other user got nothing accepted",
    overloaded > 0 &&
    `the other user was refused 503 overloaded ${overloaded} times`,
    !drained && "not every accepted event was delivered in time",
    !node.running && "the node ended",
    publisher.tally.nonProblem > 0 &&
    `${publisher.tally.nonProblem} refusals were not problem+json`,
  ]);
}
