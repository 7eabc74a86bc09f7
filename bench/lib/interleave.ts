/**
 * Timing several engines against each other in one process: each engine warmed alone first,
 * then `rounds` rounds of one slice per engine (`sliceMs` of back-to-back runs; the order
 * rotated each round: A B C, B C A, ...); samples pooled over the rounds; inputs rotate over
 * the buffers given. A pause before each slice lets the engine before it go quiet: thread pools
 * that spin after a run (onnxruntime's, XNNPACK's) would otherwise take a core from the next
 * engine's threads. With `quiet` set, a slice during which other work kept more than that many
 * cores busy (Linux /proc/stat) is dropped and run again after a quiet moment (up to 5 tries
 * per slice): on 2 cores, a burst of someone else's work stalls a 2-thread run far more than
 * a 1-thread one. Each engine's CPU use: process CPU time over wall time during its slices kept
 * (1.0: one core busy; about 2.0: two).
 */
import type { Engine } from '../peers.js';
import { othersBusy, waitForQuiet } from './quiet.js';

/** The pause before each engine's slice. */
const PAUSE_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Interleaved {
  samples: Map<string, number[]>;
  cpuPerWall: Map<string, number>;
  /** Slices dropped (and run again) because other work kept more than `quiet` cores busy during them. */
  dropped: number;
  /** Cores other work kept busy, averaged over the slices kept (null where unknown). */
  othersBusyCores: number | null;
}

export async function interleave(
  engines: readonly Engine[],
  inputs: readonly Float32Array[],
  o: { rounds: number; sliceMs: number; warmupMs: number; quiet?: number; quietWaitMs?: number },
  onRound?: (round: number) => void,
): Promise<Interleaved> {
  const samples = new Map<string, number[]>(engines.map((e) => [e.name, []]));
  // Each engine warm on its own first (V8 moves hot wasm functions to its optimising tier in the
  // background: a runtime new to the process needs a few runs).
  for (const engine of engines) {
    const t0 = performance.now();
    for (let n = 0; n < 10 || performance.now() - t0 < Math.max(1000, o.warmupMs); n++) await engine.run(inputs[n % inputs.length]!);
  }
  let dropped = 0;
  let busySum = 0;
  let busyKnown = 0;
  let turn = 0;
  const cpu = new Map<string, { cpuMs: number; wallMs: number }>(engines.map((e) => [e.name, { cpuMs: 0, wallMs: 0 }]));
  for (let round = 0; round < o.rounds; round++) {
    onRound?.(round);
    for (let k = 0; k < engines.length; k++) {
      const engine = engines[(k + round) % engines.length]!;
      for (let tries = 0; ; tries++) {
        await sleep(PAUSE_MS);
        const others = othersBusy();
        const slice: number[] = [];
        const cpu0 = process.cpuUsage();
        const t0 = performance.now();
        while (slice.length < 2 || performance.now() - t0 < o.sliceMs) {
          const t = performance.now();
          await engine.run(inputs[turn++ % inputs.length]!);
          slice.push(performance.now() - t);
        }
        const wallMs = performance.now() - t0;
        const used = process.cpuUsage(cpu0);
        const busy = others.stop();
        if (o.quiet !== undefined && busy !== null && busy > o.quiet && tries < 5) {
          dropped++;
          await waitForQuiet(o.quietWaitMs ?? 10_000, o.quiet);
          continue;
        }
        if (busy !== null) {
          busySum += busy;
          busyKnown++;
        }
        samples.get(engine.name)!.push(...slice);
        const c = cpu.get(engine.name)!;
        c.cpuMs += (used.user + used.system) / 1000;
        c.wallMs += wallMs;
        break;
      }
    }
  }
  const cpuPerWall = new Map([...cpu].map(([name, c]) => [name, c.cpuMs / c.wallMs]));
  return { samples, cpuPerWall, dropped, othersBusyCores: busyKnown ? busySum / busyKnown : null };
}
