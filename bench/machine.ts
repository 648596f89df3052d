/**
 * What the bench ran on: cores, memory, OS, Deno version and CPU model, read
 * at run time so a results file always names its machine.
 *
 * @module
 */

/** The machine a results file was measured on. */
export interface Machine {
  cores: number;
  memoryBytes: number;
  os: string;
  kernel: string;
  cpuModel: string;
  deno: string;
  v8: string;
  typescript: string;
  hostname: string;
  /** 1, 5 and 15 minute load averages when the run started: other work on the machine skews every figure. */
  loadAverage: number[];
}

/** Describes this machine. */
export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ??
    "unknown";
  const osRelease = await Deno.readTextFile("/etc/os-release").catch(() => "");
  const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ??
    Deno.build.os;
  return {
    cores: navigator.hardwareConcurrency,
    memoryBytes: Deno.systemMemoryInfo().total,
    os: `${pretty} (${Deno.build.os} ${Deno.build.arch})`,
    kernel: Deno.osRelease(),
    cpuModel: model,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    hostname: Deno.hostname(),
    loadAverage: Deno.loadavg(),
  };
}
