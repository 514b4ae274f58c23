/**
 * The lock a process holds on a run directory while it trains or evaluates it, so that two processes never
 * interleave checkpoints or outputs of one run. `run.lock` carries an exclusive advisory file lock (flock)
 * for as long as its holder lives — the kernel drops it when the process ends, however it ends (SIGKILL
 * included) — and the holder's pid for the message. A lock file whose lock nobody holds is stale (its process
 * is gone) and is taken over with a notice.
 *
 * @module
 */
import { join } from "node:path";
import { CheckpointError } from "./run_dir.ts";

/**
 * A held lock; `release()` unlocks and removes it (idempotent).
 *
 * @example
 * ```ts ignore
 * import { lockRun } from "@lzn/tasks";
 * const lock = await lockRun("runs/demo");
 * try {
 *   // ... train ...
 * } finally {
 *   lock.release();
 * }
 * ```
 */
export interface RunLock {
  /** The lock file. */
  readonly path: string;
  /** Unlocks and removes the lock file (synchronous, so `dispose()` methods can call it). */
  release(): void;
}

/**
 * Creates `dir` if needed and takes its lock. Throws a {@link CheckpointError} naming the holder's pid if a
 * live process (this one included, through another handle) holds it; a stale lock file is taken over and
 * `log` is told. Taking the lock is also the write-permission check of a run: it fails before the run
 * directory is written (the CLI checks the permission earlier still, before loading data).
 *
 * @example
 * ```ts ignore
 * import { lockRun } from "@lzn/tasks";
 * const lock = await lockRun("runs/demo", (line) => console.error(line));
 * lock.release();
 * ```
 */
export async function lockRun(dir: string, log?: (line: string) => void): Promise<RunLock> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "run.lock");
  for (let attempt = 0; attempt < 5; attempt++) {
    const lock = await tryLock(dir, path, log);
    if (lock) return lock;
  }
  throw new CheckpointError(`could not take the lock ${path}: other processes keep replacing it`);
}

/** One attempt; `undefined` when the file was replaced under us (its holder released it meanwhile). */
async function tryLock(
  dir: string,
  path: string,
  log?: (line: string) => void,
): Promise<RunLock | undefined> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
    if (locked && (await Deno.stat(path).then((s) => s.ino, () => undefined)) !== file.statSync().ino) {
      file.unlockSync();
      file.close();
      return undefined;
    }
    const previous = await readHolder(file);
    if (!locked) {
      throw new CheckpointError(
        `${dir} is in use by another lzn process (pid ${
          previous ?? "?"
        }, training or evaluating; lock ${path}); ` +
          `wait for it to finish, or use another run directory`,
      );
    }
    if (previous !== undefined) {
      log?.(`note: taking over the stale lock of pid ${previous}, which has ended (${path})`);
    }
    const body = new TextEncoder().encode(
      JSON.stringify({ pid: Deno.pid, started: new Date().toISOString() }) + "\n",
    );
    await file.truncate(0);
    await file.seek(0, Deno.SeekMode.Start);
    for (let off = 0; off < body.length;) off += await file.write(body.subarray(off));
  } catch (e) {
    if (locked) file.unlockSync();
    file.close();
    throw e;
  }
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      // Removed while still locked, so that no other process can lock the old file in between.
      try {
        Deno.removeSync(path);
      } catch { /* already gone */ }
      file.unlockSync();
      file.close();
    },
  };
}

/** The pid a lock file records, if any. */
async function readHolder(file: Deno.FsFile): Promise<number | undefined> {
  try {
    await file.seek(0, Deno.SeekMode.Start);
    const bytes = new Uint8Array(256);
    const n = await file.read(bytes);
    const pid = JSON.parse(new TextDecoder().decode(bytes.subarray(0, n ?? 0))).pid;
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
