import assert from "node:assert/strict";
import { request, runCommand, startServer, tempDir } from "./harness.ts";
import {
  call,
  initNode,
  modeOf,
  NO_PASSPHRASE,
  problemOf,
} from "../support/security_node.ts";

const NO_STACK = /^\s+at |Uncaught|error: /m;

Deno.test("security e2e: init then serve comes up unsealed with the passphrase from a file, the systemd credential or the environment, first found", async () => {
  await using node = await initNode();
  const credentials = `${node.root}/credentials`;
  await Deno.mkdir(credentials, { mode: 0o700 });
  await Deno.writeTextFile(
    `${credentials}/miranda-passphrase`,
    node.passphrase,
    { mode: 0o600 },
  );
  const wrongCredentials = `${node.root}/wrong-credentials`;
  await Deno.mkdir(wrongCredentials, { mode: 0o700 });
  await Deno.writeTextFile(
    `${wrongCredentials}/miranda-passphrase`,
    "not the passphrase at all",
  );
  using client = await node.caClient();

  // Each source is used while every later one holds a wrong passphrase, so
  // only the source under test can have unsealed the node.
  const sources: [string, string[], Record<string, string>][] = [
    ["file", ["--passphrase-file", node.passphraseFile], {
      CREDENTIALS_DIRECTORY: wrongCredentials,
      MIRANDA_PASSPHRASE: "not the passphrase at all",
    }],
    ["credential", [], {
      CREDENTIALS_DIRECTORY: credentials,
      MIRANDA_PASSPHRASE: "not the passphrase at all",
    }],
    ["env", [], { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase }],
  ];
  for (const [source, args, env] of sources) {
    await using server = await startServer({
      command: "serve",
      dataDir: node.dataDir,
      args,
      env,
    });
    assert.match(server.url, /^https:\/\//, source);
    const ready = await call(client, `${server.url}/readyz`);
    assert.equal(ready.status, 200, `${source}: ${ready.text}`);
    assert.equal((ready.json() as { status: string }).status, "ready");
    assert.equal((await server.stop()).code, 0, source);
  }
});

Deno.test("security e2e: init refuses a non-empty data directory and an existing admin key file, changing nothing", async () => {
  await using node = await initNode();
  const keyringBefore = await Deno.readFile(`${node.dataDir}/keyring.json`);

  const again = await runCommand("init", [
    "--data-dir",
    node.dataDir,
    "--admin-key-out",
    `${node.root}/other-admin-key.pem`,
  ], { env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase } });
  assert.equal(again.code, 1, again.stderr);
  assert.match(again.stderr, /not empty; init never overwrites/);
  assert.doesNotMatch(again.stderr, NO_STACK);
  assert.deepEqual(
    await Deno.readFile(`${node.dataDir}/keyring.json`),
    keyringBefore,
  );
  await assert.rejects(
    Deno.stat(`${node.root}/other-admin-key.pem`),
    Deno.errors.NotFound,
  );

  const adminBefore = await Deno.readFile(node.adminKey);
  const freshDir = `${node.root}/fresh-data`;
  const existingKey = await runCommand("init", [
    "--data-dir",
    freshDir,
    "--admin-key-out",
    node.adminKey,
  ], { env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase } });
  assert.equal(existingKey.code, 1, existingKey.stderr);
  assert.match(existingKey.stderr, /admin key file .* already exists/);
  assert.doesNotMatch(existingKey.stderr, NO_STACK);
  assert.deepEqual(await Deno.readFile(node.adminKey), adminBefore);
  await assert.rejects(Deno.stat(freshDir), Deno.errors.NotFound);
});

Deno.test("security e2e: init and serve write every file owner-only (0600, data directory 0700) even under umask 000, the database's -wal and -shm included", async () => {
  await using node = await initNode({ umask: 0o000 });
  assert.equal(await modeOf(node.dataDir), 0o700);
  for (const path of [node.adminKey, node.sharesFile]) {
    assert.equal((await modeOf(path)).toString(8), "600", path);
  }
  const initFiles = [];
  for await (const entry of Deno.readDir(node.dataDir)) {
    initFiles.push(entry.name);
    const path = `${node.dataDir}/${entry.name}`;
    assert.equal((await modeOf(path)).toString(8), "600", path);
  }
  for (
    const name of [
      "keyring.json",
      "ca.pem",
      "node.pem",
      "node-key.pem",
      "miranda.db",
    ]
  ) assert.ok(initFiles.includes(name), `init wrote no ${name}`);

  await using server = await startServer({
    command: "serve",
    dataDir: node.dataDir,
    umask: 0o000,
    env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase },
  });
  using client = await node.caClient();
  assert.equal((await call(client, `${server.url}/readyz`)).status, 200);
  const running = [];
  for await (const entry of Deno.readDir(node.dataDir)) {
    running.push(entry.name);
    const path = `${node.dataDir}/${entry.name}`;
    assert.equal((await modeOf(path)).toString(8), "600", path);
  }
  assert.ok(running.includes("miranda.db-wal"), running.join(", "));
  assert.ok(running.includes("miranda.db-shm"), running.join(", "));
  assert.equal(await modeOf(node.dataDir), 0o700);
});

Deno.test("security e2e: serve with a wrong passphrase exits 1 with a clear message and no stack trace", async () => {
  await using node = await initNode();
  const wrongFile = `${node.root}/wrong.txt`;
  await Deno.writeTextFile(wrongFile, "definitely the wrong passphrase\n");
  for (
    const [how, args, env] of [
      ["env", [], { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: "wrong passphrase" }],
      ["file", ["--passphrase-file", wrongFile], NO_PASSPHRASE],
    ] as const
  ) {
    const result = await runCommand("serve", [
      "--listen",
      "127.0.0.1:0",
      "--data-dir",
      node.dataDir,
      ...args,
    ], { env, timeoutMs: 20_000 });
    assert.equal(result.code, 1, `${how}: ${result.stdout}\n${result.stderr}`);
    assert.match(
      result.stderr,
      /^miranda: The passphrase does not unlock this node's keys$/m,
      how,
    );
    assert.doesNotMatch(result.stderr, NO_STACK, how);
    assert.doesNotMatch(result.stdout, /listening/, how);
  }
});

Deno.test("security e2e: HTTPS by default — a client trusting ca.pem connects, one without it is refused; --insecure-http serves plain HTTP", async () => {
  await using node = await initNode();
  const env = { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: node.passphrase };
  {
    await using server = await startServer({
      command: "serve",
      dataDir: node.dataDir,
      env,
    });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    using trusting = await node.caClient();
    assert.equal((await call(trusting, `${server.url}/healthz`)).status, 200);

    await assert.rejects(request(`${server.url}/healthz`), (error) => {
      assert.ok(error instanceof TypeError, String(error));
      assert.match(
        String(error.cause ?? error.message),
        /certificate|UnknownIssuer|tls/i,
      );
      return true;
    });
    // A CA from another init does not vouch for this node either.
    await using other = await initNode();
    using foreign = await other.caClient();
    await assert.rejects(call(foreign, `${server.url}/healthz`), TypeError);
    // Plain HTTP to the TLS port gets no answer from the API.
    await assert.rejects(
      request(`${server.url.replace("https:", "http:")}/healthz`),
    );
  }
  {
    await using server = await startServer({
      command: "serve",
      dataDir: node.dataDir,
      args: ["--insecure-http"],
      env,
    });
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const ready = await request(`${server.url}/readyz`);
    assert.equal(ready.status, 200, ready.text);
    assert.match(server.stderr(), /serving plain HTTP/);
    const api = await request(`${server.url}/api/v1/no-such-call`);
    assert.equal(problemOf(api).status, 404);
  }
});

Deno.test("security e2e: init refuses output files it could not write (existing shares file, shares file = admin key file, missing directory) before creating anything, without a stack trace", async () => {
  const root = await tempDir();
  try {
    const existing = `${root}/existing.txt`;
    await Deno.writeTextFile(existing, "keep me\n");
    const cases: [string, string[], RegExp][] = [
      ["existing shares file", [
        "--admin-key-out",
        `${root}/admin-1.pem`,
        "--shares-out",
        existing,
      ], /shares file .*existing\.txt" already exists/],
      ["shares file is the admin key file", [
        "--admin-key-out",
        `${root}/same.pem`,
        "--shares-out",
        `${root}/same.pem`,
      ], /same\.pem/],
      ["shares file in a missing directory", [
        "--admin-key-out",
        `${root}/admin-3.pem`,
        "--shares-out",
        `${root}/missing/shares.txt`,
      ], /missing/],
      ["admin key file in a missing directory", [
        "--admin-key-out",
        `${root}/missing/admin.pem`,
      ], /missing/],
    ];
    for (const [what, args, message] of cases) {
      const dataDir = `${root}/data-${what.replaceAll(" ", "-")}`;
      const result = await runCommand("init", [
        "--data-dir",
        dataDir,
        ...args,
      ], { env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: "e2e passphrase" } });
      assert.equal(result.code, 1, `${what}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /^miranda: /m, what);
      assert.match(result.stderr, message, what);
      assert.doesNotMatch(result.stderr, NO_STACK, what);
      await assert.rejects(Deno.stat(dataDir), Deno.errors.NotFound, what);
    }
    assert.equal(await Deno.readTextFile(existing), "keep me\n");
    const left = [];
    for await (const entry of Deno.readDir(root)) left.push(entry.name);
    assert.deepEqual(left, ["existing.txt"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("security e2e: init refuses a share threshold below 2 as a usage error before creating anything", async () => {
  const root = await tempDir();
  try {
    const result = await runCommand("init", [
      "--data-dir",
      `${root}/data`,
      "--admin-key-out",
      `${root}/admin.pem`,
      "--share-threshold",
      "1",
      "--share-count",
      "1",
    ], { env: { ...NO_PASSPHRASE, MIRANDA_PASSPHRASE: "e2e passphrase" } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^miranda: .*--share-threshold/m);
    assert.doesNotMatch(result.stderr, NO_STACK);
    const left = [];
    for await (const entry of Deno.readDir(root)) left.push(entry.name);
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
