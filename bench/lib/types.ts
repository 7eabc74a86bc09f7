/**
 * The suite's results, as written to bench/results/*.json and read back by the report and
 * plot generators. Times in ms, rates in 10^9 per second, sizes in bytes. A stage that did not
 * run is null.
 */
import type { Timing } from './stats.js';
import type { Ceiling } from './probe.js';

export type { Timing } from './stats.js';
export type { Ceiling } from './probe.js';

export interface Meta {
  /** ISO date of the start of the run. */
  date: string;
  /** `git rev-parse HEAD`, or null outside a checkout. */
  commit: string | null;
  /** True when the work tree had changes to tracked files. */
  dirty: boolean | null;
  runtime: { node: string; v8: string; platform: string };
  cpu: { model: string; cores: number; mhz: number };
  /** os.loadavg() (1, 5, 15 min) at the start and at the end. */
  loadavg: { start: number[]; end: number[] };
  quick: boolean;
  /** The options the suite ran with. */
  options: Record<string, unknown>;
  durationS: number;
  /** Bytes of build/kernels.wasm. */
  kernelsWasmBytes: number | null;
  notes: string[];
}

export interface KernelRow {
  name: string;
  kind: string;
  inShape: readonly number[];
  outShape: readonly number[];
  params: number;
  macs: number;
  /** Input + output + weights (+ bias) bytes, each counted once. */
  bytes: number;
  /** The SIMD kernel (what the wasm backend runs). */
  simd: Timing;
  /** Its scalar wasm twin, same packing, same summation order. */
  scalar: Timing | null;
  /** The plain-TypeScript reference kernel (on a subset in --quick). */
  reference: Timing | null;
  /** max|simd - scalar| / max|scalar| on the layer's output (0: bit for bit). */
  simdVsScalar: number | null;
}

export interface KernelsResult {
  alpha: number;
  resolution: number;
  rows: KernelRow[];
}

export interface LayerRow {
  name: string;
  /** The seed's op name, e.g. MobilenetV1/Conv2d_0/Conv2D (the end point name for the pool). */
  opName: string;
  kind: string;
  params: number;
  macs: number;
  timing: Timing;
  /** Share of the sum of the layer medians. */
  timeShare: number;
  /** Share of the model's Mult-Adds. */
  macShare: number;
}

export interface LayersResult {
  alpha: number;
  resolution: number;
  rows: LayerRow[];
  /** The whole inference, timed between the per-layer sweeps. */
  whole: Timing;
  sumOfMediansMs: number;
}

export interface ModelRow {
  alpha: number;
  resolution: number;
  batch: number;
  engine: string;
  /** Mult-Adds of one image (classifier included). */
  macs: number;
  params: number;
  /** Build (and for ours: compile) plus the first run; see `coldStartHow`. */
  coldStartMs: number;
  coldStartHow: string;
  timing: Timing;
  /** Mult-Adds x batch / median, 10^9 per second. */
  gmacs: number;
  /** Against ours (wasm) on the first input; 0 for ours. */
  maxRelError: number;
  /** This engine's median / ours: above 1, ours is faster. */
  vsOurs: number | null;
  /** The wasm arena, ours only. */
  memoryBytes: number | null;
}

export interface Skipped {
  engine: string;
  alpha: number;
  resolution: number;
  batch: number;
  reason: string;
}

export interface ModelsResult {
  rows: ModelRow[];
  skipped: Skipped[];
}

/** One engine at one thread count on one configuration (the threads stage). */
export interface ThreadsRow {
  alpha: number;
  resolution: number;
  batch: number;
  /** `ours`, `ours-head` (the committed HEAD's build, --baseline), or a peer. */
  engine: string;
  threads: number;
  /**
   * `main`: timed in the suite's process, interleaved with ours at 1 and N threads; `child`: in
   * a child process (ort-web and TF.js wasm choose their thread count once per process),
   * interleaved with ours at 1 and N threads there too.
   */
  process: 'main' | 'child';
  macs: number;
  timing: Timing;
  /** Process CPU time / wall time over its slices kept: about the cores it kept busy. */
  cpuPerWall: number | null;
  /** Against ours at 1 thread on the first input: 0 for ours (bit-identical, checked). */
  maxRelError: number;
  /** This median / ours at 1 thread in the same process. */
  vsOurs1: number;
  /** This median / ours at N threads in the same process. */
  vsOursN: number | null;
  /** Cores other work kept busy (Linux /proc/stat) during the slices kept; null where unknown. */
  othersBusyCores: number | null;
  /** Slices dropped and run again in this process because other work kept more than 0.05 cores busy during them. */
  droppedRounds: number;
}

/** A layer of the per-layer comparison: ours at 1 thread and at N, each layer alone. */
export interface ThreadLayerRow {
  name: string;
  kind: string;
  macs: number;
  /** Work items the layer is cut into at N threads. */
  items: number;
  one: Timing;
  many: Timing;
  /** one / many (2.0: perfect on 2 threads). */
  speedup: number;
}

export interface ThreadsResult {
  threads: number;
  rows: ThreadsRow[];
  skipped: Skipped[];
  layers: { alpha: number; resolution: number; rows: ThreadLayerRow[]; wholeOne: Timing; wholeMany: Timing; othersBusyCores: number | null; droppedSweeps: number } | null;
  notes: string[];
}

export interface SuiteResults {
  meta: Meta;
  ceiling: Ceiling | null;
  kernels: KernelsResult | null;
  layers: LayersResult | null;
  models: ModelsResult | null;
  /** The threads stage; absent or null when it did not run. */
  threads?: ThreadsResult | null;
}
