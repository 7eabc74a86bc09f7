/**
 * How busy the machine is with work that is not this benchmark (Linux: /proc/stat): the threads
 * stage waits for a quiet moment before it times (a thread of ours cannot run on a core someone
 * else holds), and reports how many cores other work kept busy while it timed. Elsewhere
 * (no /proc/stat) nothing is waited for and nothing is reported.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  /** Jiffies busy and in total, all cores, since boot. */
  busy: number;
  total: number;
  /** This process's CPU time (µs). */
  own: number;
  wall: number;
}

function snapshot(): Snapshot | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3]! + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const u = process.cpuUsage();
    return { busy: total - idle, total, own: u.user + u.system, wall: performance.now() };
  } catch {
    return null;
  }
}

/** A measurement of the cores busy with other work, from `start()` to `stop()` (null where unknown). */
export function othersBusy(): { stop(): number | null } {
  const a = snapshot();
  return {
    stop() {
      const b = snapshot();
      if (!a || !b || b.total === a.total) return null;
      const cores = (b.total - a.total) / (((b.wall - a.wall) / 1000) * 100);
      const busyCores = ((b.busy - a.busy) / (b.total - a.total)) * cores;
      const ownCores = (b.own - a.own) / 1000 / (b.wall - a.wall);
      return Math.max(0, busyCores - ownCores);
    },
  };
}

/**
 * Waits (up to `maxMs`) until other work keeps less than `threshold` cores busy over a 1 s
 * window; returns the cores others kept busy in the last window (null: unknown).
 */
export async function waitForQuiet(maxMs: number, threshold = 0.15): Promise<number | null> {
  const end = performance.now() + maxMs;
  for (;;) {
    const m = othersBusy();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = m.stop();
    if (busy === null || busy < threshold || performance.now() > end) return busy;
  }
}
