/**
 * Loads the configuration: flags over `MIRANDA_*` environment variables over
 * a JSON config file (`--config FILE` or `MIRANDA_CONFIG`) over defaults.
 *
 * @module
 */

import {
  type Config,
  CONFIG_KEYS,
  type KeyKind,
  type KeySpec,
} from "./keys.ts";

/** A configuration value that cannot be used; the message names the key and value. */
export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(message: string, readonly key: string) {
    super(message);
  }
}

/** Where the loader reads from; injectable for tests. */
export interface ConfigSources {
  /** Command-line arguments after the command name. */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  readFile?: (path: string) => string;
}

/** The loaded configuration and the arguments that were not configuration flags. */
export interface LoadedConfig {
  config: Config;
  /** Where each key's value came from, for the start-up log. */
  origins: Record<keyof Config, "flag" | "env" | "file" | "default">;
  rest: string[];
}

/** Loads and validates the configuration; throws {@linkcode ConfigError}. */
export function loadConfig(sources: ConfigSources): LoadedConfig {
  const { flags, rest, configPath } = splitFlags(sources.args);
  const filePath = configPath ?? sources.env["MIRANDA_CONFIG"];
  const file = filePath ? readConfigFile(filePath, sources.readFile) : {};
  const config = {} as Record<string, unknown>;
  const origins = {} as Record<string, "flag" | "env" | "file" | "default">;
  for (const spec of CONFIG_KEYS) {
    const flag = flags.get(spec.flag);
    const env = sources.env[spec.env];
    if (flag !== undefined) {
      config[spec.key] = parseText(spec, flag);
      origins[spec.key] = "flag";
    } else if (env !== undefined && env !== "") {
      config[spec.key] = parseText(spec, env);
      origins[spec.key] = "env";
    } else if (spec.key in file) {
      config[spec.key] = checkFileValue(spec, file[spec.key]);
      origins[spec.key] = "file";
    } else {
      config[spec.key] = spec.default;
      origins[spec.key] = "default";
    }
  }
  const unknownFileKeys = Object.keys(file).filter((k) =>
    !CONFIG_KEYS.some((s) => s.key === k)
  );
  if (unknownFileKeys.length > 0) {
    throw new ConfigError(
      `Unknown key "${unknownFileKeys[0]}" in config file "${filePath}"`,
      unknownFileKeys[0]!,
    );
  }
  return {
    config: config as unknown as Config,
    origins: origins as LoadedConfig["origins"],
    rest,
  };
}

function splitFlags(args: readonly string[]) {
  const flags = new Map<string, string>();
  const rest: string[] = [];
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--")) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const spec = CONFIG_KEYS.find((s) => s.flag === name);
    if (name === "--config") {
      configPath = eq === -1 ? args[++i] : arg.slice(eq + 1);
      if (configPath === undefined) {
        throw new ConfigError(`Flag "--config" needs a value`, "config");
      }
      continue;
    }
    if (!spec) {
      rest.push(arg);
      continue;
    }
    if (eq !== -1) {
      flags.set(name, arg.slice(eq + 1));
    } else if (spec.type.kind === "boolean") {
      flags.set(name, "true");
    } else {
      const value = args[++i];
      if (value === undefined) {
        throw new ConfigError(`Flag "${name}" needs a value`, spec.key);
      }
      flags.set(name, value);
    }
  }
  return { flags, rest, configPath };
}

function readConfigFile(
  path: string,
  readFile: (path: string) => string = Deno.readTextFileSync,
): Record<string, unknown> {
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new ConfigError(
      `Cannot read config file "${path}": ${(error as Error).message}`,
      "config",
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(
      `Config file "${path}" is not valid JSON: ${(error as Error).message}`,
      "config",
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `Config file "${path}" must hold a JSON object`,
      "config",
    );
  }
  return parsed as Record<string, unknown>;
}

function parseText(spec: KeySpec, text: string): unknown {
  const type = spec.type;
  switch (type.kind) {
    case "string":
    case "path":
      return text;
    case "list":
      return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
    case "boolean":
      if (["true", "1", "yes", "on"].includes(text.toLowerCase())) return true;
      if (["false", "0", "no", "off"].includes(text.toLowerCase())) {
        return false;
      }
      throw new ConfigError(
        `"${spec.key}" must be true or false, got "${text}"`,
        spec.key,
      );
    case "integer": {
      if (!/^-?\d+$/.test(text.trim())) {
        throw new ConfigError(
          `"${spec.key}" must be a whole number, got "${text}"`,
          spec.key,
        );
      }
      return checkInteger(spec, type, Number(text));
    }
    case "enum":
      return checkEnum(spec, type, text);
    case "listen":
      return checkListen(spec, text);
    case "json":
      try {
        JSON.parse(text);
      } catch {
        throw new ConfigError(
          `"${spec.key}" must be JSON, got "${text}"`,
          spec.key,
        );
      }
      return text;
  }
}

function checkFileValue(spec: KeySpec, value: unknown): unknown {
  const type = spec.type;
  const wrong = () =>
    new ConfigError(
      `"${spec.key}" in the config file has the wrong type: ${
        JSON.stringify(value)
      }`,
      spec.key,
    );
  switch (type.kind) {
    case "string":
    case "path":
      if (value === null && spec.default === null) return null;
      if (typeof value !== "string") throw wrong();
      return value;
    case "list":
      if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
        throw wrong();
      }
      return value;
    case "boolean":
      if (typeof value !== "boolean") throw wrong();
      return value;
    case "integer":
      if (typeof value !== "number") throw wrong();
      return checkInteger(spec, type, value);
    case "enum":
      if (typeof value !== "string") throw wrong();
      return checkEnum(spec, type, value);
    case "listen":
      if (typeof value !== "string") throw wrong();
      return checkListen(spec, value);
    case "json":
      return JSON.stringify(value);
  }
}

function checkInteger(
  spec: KeySpec,
  type: Extract<KeyKind, { kind: "integer" }>,
  n: number,
): number {
  if (!Number.isSafeInteger(n) || n < type.min || n > type.max) {
    throw new ConfigError(
      `"${spec.key}" must be a whole number from ${type.min} to ${type.max}, got "${n}"`,
      spec.key,
    );
  }
  return n;
}

function checkEnum(
  spec: KeySpec,
  type: Extract<KeyKind, { kind: "enum" }>,
  text: string,
): string {
  if (!type.values.includes(text)) {
    throw new ConfigError(
      `"${spec.key}" must be one of ${type.values.join(", ")}, got "${text}"`,
      spec.key,
    );
  }
  return text;
}

function checkListen(spec: KeySpec, text: string): string {
  const parsed = parseListen(text);
  if (!parsed) {
    throw new ConfigError(
      `"${spec.key}" must be HOST:PORT with a port from 0 to 65535, got "${text}"`,
      spec.key,
    );
  }
  return text;
}

/** Splits `HOST:PORT` (IPv6 hosts in brackets); `null` when malformed. */
export function parseListen(
  text: string,
): { hostname: string; port: number } | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$/.exec(text);
  if (!match) return null;
  const port = Number(match[2]);
  if (port > 65535) return null;
  return { hostname: match[1]!.replace(/^\[|\]$/g, ""), port };
}
