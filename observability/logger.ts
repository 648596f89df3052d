/**
 * One logger for the whole process: JSON lines, one object per line, with
 * bound fields (request id, actor name) carried by child loggers.
 *
 * @module
 */

/** Severity of a log line, lowest first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVEL_ORDER: Record<LogLevel, number> = {
  debug: 10,
  info: 20,
  warn: 30,
  error: 40,
};

/** Extra fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Where finished log lines go; stderr unless a test captures them. */
export type LogSink = (line: string) => void;

/** A structured logger; `child` binds fields to every later line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const encoder = new TextEncoder();

function stderrSink(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/** Turns an error into loggable fields, stack included (logs only, never clients). */
export function errorFields(error: unknown): LogFields {
  if (error instanceof Error) {
    return { error: error.message, errorName: error.name, stack: error.stack };
  }
  return { error: String(error) };
}

/** Creates a JSON-lines logger writing lines at `level` and above to `sink`. */
export function createLogger(
  options: { level?: LogLevel; sink?: LogSink; fields?: LogFields } = {},
): Logger {
  const min = LEVEL_ORDER[options.level ?? "info"];
  const sink = options.sink ?? stderrSink;
  const bound = options.fields ?? {};
  function write(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVEL_ORDER[level] < min) return;
    const line = {
      time: new Date().toISOString(),
      level,
      msg,
      ...bound,
      ...fields,
    };
    sink(JSON.stringify(line, replaceUnserialisable));
  }
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) =>
      createLogger({
        level: options.level ?? "info",
        sink,
        fields: { ...bound, ...fields },
      }),
  };
}

function replaceUnserialisable(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return errorFields(value);
  return value;
}

/** A logger that drops everything; for tests that do not look at logs. */
export const silentLogger: Logger = createLogger({ sink: () => {} });
