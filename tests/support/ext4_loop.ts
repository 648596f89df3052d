/**
 * An ext4 file system on a loop device, for tests and chaos scenarios that
 * need a file system to fail under a running process: `fail` makes ext4
 * report an error of its own (`/sys/fs/ext4/<dev>/trigger_fs_error`), which
 * aborts its journal and turns it read-only for good, as a device error
 * would; `repair` unmounts, checks and mounts it again. Whatever had not
 * reached the disk (written but not flushed, or flushed without its
 * directory entry) is gone after the repair. Needs root.
 *
 * @module
 */

/** The system tools live in `sbin`, which a minimal `PATH` (CI's) may lack. */
function tool(name: string): string {
  for (const dir of ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]) {
    try {
      Deno.statSync(`${dir}/${name}`);
      return `${dir}/${name}`;
    } catch { /* not there */ }
  }
  return name;
}

async function run(
  command: string,
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  try {
    const out = await new Deno.Command(tool(command), {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    return { ok: out.success, out: text.trim() };
  } catch (error) {
    return { ok: false, out: String(error) };
  }
}

/** An ext4 file system on a loop device, mounted on `root`. */
export interface LoopFs extends AsyncDisposable {
  /** Makes ext4 report an error: it remounts itself read-only. */
  fail(): Promise<void>;
  /** Unmounts, checks (`e2fsck -fy`) and mounts again; the checker's output. */
  repair(): Promise<string>;
}

/**
 * Makes an ext4 file system of `sizeMiB` in `<root>.img`, on a loop device,
 * mounted on `root` with `errors=remount-ro`; a string says why it could
 * not (not root, no loop device). Disposing it unmounts and detaches.
 */
export async function mountExt4Loop(
  root: string,
  sizeMiB: number,
): Promise<LoopFs | string> {
  const image = `${root}.img`;
  const file = await Deno.open(image, { create: true, write: true });
  await file.truncate(sizeMiB * 1024 * 1024);
  file.close();
  const attach = await run("losetup", ["--find", "--show", image]);
  if (!attach.ok) {
    await Deno.remove(image);
    return `losetup: ${attach.out}`;
  }
  const device = attach.out;
  const detach = async () => {
    await run("umount", [root]);
    await run("losetup", ["--detach", device]);
    await Deno.remove(image).catch(() => {});
  };
  const mkfs = await run("mkfs.ext4", ["-q", device]);
  const mount = () =>
    run("mount", ["-t", "ext4", "-o", "errors=remount-ro", device, root]);
  const mounted = mkfs.ok ? await mount() : mkfs;
  if (!mounted.ok) {
    await detach();
    return `mkfs.ext4 / mount: ${mounted.out}`;
  }
  const trigger = `/sys/fs/ext4/${device.split("/").at(-1)}/trigger_fs_error`;
  return {
    fail: () => Deno.writeTextFile(trigger, "miranda chaos\n"),
    async repair() {
      const umount = await run("umount", [root]);
      if (!umount.ok) throw new Error(`umount: ${umount.out}`);
      // 0: clean, 1: errors corrected; anything else is left uncorrected.
      const check = await new Deno.Command(tool("e2fsck"), {
        args: ["-fy", device],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const out = new TextDecoder().decode(check.stdout).trim();
      if (check.code > 1) throw new Error(`e2fsck (${check.code}): ${out}`);
      const again = await mount();
      if (!again.ok) throw new Error(`mount: ${again.out}`);
      return out;
    },
    [Symbol.asyncDispose]: detach,
  };
}
