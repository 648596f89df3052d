import assert from "node:assert/strict";
import { CONFIG_KEYS } from "../../config/keys.ts";
import { ConfigError, loadConfig, parseListen } from "../../config/load.ts";

Deno.test("config: defaults apply when nothing is given", () => {
  const { config, origins } = loadConfig({ args: [], env: {} });
  for (const spec of CONFIG_KEYS) {
    assert.deepEqual(config[spec.key], spec.default, spec.key);
    assert.equal(origins[spec.key], "default");
  }
});

Deno.test("config: flags win over env, env over file, file over defaults", () => {
  const file = JSON.stringify({
    listen: "127.0.0.1:1",
    logLevel: "warn",
    maxBodyBytes: 10,
  });
  const { config, origins } = loadConfig({
    args: ["--config", "/cfg.json", "--listen=127.0.0.1:3", "--insecure-http"],
    env: { MIRANDA_LISTEN: "127.0.0.1:2", MIRANDA_LOG_LEVEL: "debug" },
    readFile: () => file,
  });
  assert.equal(config.listen, "127.0.0.1:3");
  assert.equal(origins.listen, "flag");
  assert.equal(config.logLevel, "debug");
  assert.equal(origins.logLevel, "env");
  assert.equal(config.maxBodyBytes, 10);
  assert.equal(origins.maxBodyBytes, "file");
  assert.equal(config.insecureHttp, true);
});

Deno.test("config: MIRANDA_CONFIG names the file when --config is absent", () => {
  const { config } = loadConfig({
    args: [],
    env: { MIRANDA_CONFIG: "/x.json" },
    readFile: (path) => {
      assert.equal(path, "/x.json");
      return JSON.stringify({ panicMode: "continue" });
    },
  });
  assert.equal(config.panicMode, "continue");
});

Deno.test("config: bad values are refused with the key and value named", () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["--listen", "nope"], {}, /"listen" must be HOST:PORT.*"nope"/],
    [
      ["--max-body-bytes", "12x"],
      {},
      /"maxBodyBytes" must be a whole number.*"12x"/,
    ],
    [
      ["--max-body-bytes", "0"],
      {},
      /"maxBodyBytes" must be a whole number from 1/,
    ],
    [
      [],
      { MIRANDA_PANIC_MODE: "explode" },
      /"panicMode" must be one of halt, shutdown, continue/,
    ],
    [
      [],
      { MIRANDA_INSECURE_HTTP: "maybe" },
      /"insecureHttp" must be true or false/,
    ],
    [["--listen"], {}, /Flag "--listen" needs a value/],
  ];
  for (const [args, env, pattern] of cases) {
    assert.throws(
      () => loadConfig({ args, env }),
      (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
    );
  }
});

Deno.test("config: a config file with unknown keys or wrong types is refused", () => {
  assert.throws(
    () =>
      loadConfig({
        args: ["--config", "f"],
        env: {},
        readFile: () => `{"lisen": "x"}`,
      }),
    /Unknown key "lisen"/,
  );
  assert.throws(
    () =>
      loadConfig({
        args: ["--config", "f"],
        env: {},
        readFile: () => `{"maxBodyBytes": "big"}`,
      }),
    /"maxBodyBytes" in the config file has the wrong type/,
  );
  assert.throws(
    () =>
      loadConfig({ args: ["--config", "f"], env: {}, readFile: () => `[1]` }),
    /must hold a JSON object/,
  );
  assert.throws(
    () => loadConfig({ args: ["--config", "f"], env: {}, readFile: () => `{` }),
    /is not valid JSON/,
  );
});

Deno.test("config: unknown flags are left for the command to judge", () => {
  const { rest } = loadConfig({ args: ["--frobnicate", "x"], env: {} });
  assert.deepEqual(rest, ["--frobnicate", "x"]);
});

Deno.test("config: parseListen reads IPv4, names and bracketed IPv6", () => {
  assert.deepEqual(parseListen("127.0.0.1:80"), {
    hostname: "127.0.0.1",
    port: 80,
  });
  assert.deepEqual(parseListen("localhost:0"), {
    hostname: "localhost",
    port: 0,
  });
  assert.deepEqual(parseListen("[::1]:8443"), { hostname: "::1", port: 8443 });
  assert.equal(parseListen("::1:80"), null);
  assert.equal(parseListen("host:70000"), null);
  assert.equal(parseListen("host"), null);
});

Deno.test("config: the README documents every key", async () => {
  const readme = await Deno.readTextFile(
    new URL("../../README.md", import.meta.url),
  );
  for (const spec of CONFIG_KEYS) {
    assert.ok(readme.includes(`\`${spec.flag}\``), `README lacks ${spec.flag}`);
    assert.ok(readme.includes(`\`${spec.env}\``), `README lacks ${spec.env}`);
  }
});
