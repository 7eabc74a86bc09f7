/**
 * The suite's command line:
 *
 *   npm run bench -- [--quick] [--alpha 1,0.5] [--resolution 224,128] [--layers SEL]
 *                    [--peers tfjs-wasm,ort-node | none] [--batch 1,8] [--stages ceiling,kernels,layers,models]
 *                    [--out DIR] [--json]
 *
 * --alpha / --resolution: the model grid (default the 16 of the paper: 1, 0.75, 0.5, 0.25 x
 * 224, 192, 160, 128; --quick: 1, 0.25 x 224, 128). The kernel and layer stages use the first of
 * each (default 1.0 @ 224).
 * --layers: which layers the kernel and layer stages time: comma-separated indices (0 = Conv2d_0),
 * ranges (3-6), names (Conv2d_1_depthwise) or globs (*_depthwise). Default: all.
 * --stages threads (not in the default set): ours at 1 and --threads N threads (default 2) beside
 * the peers that can thread, at 1.0 @ 224, 0.5 @ 160 and 0.25 @ 128, batch 1, and the first of
 * those layer by layer; --baseline DIR also times another build of this package (the committed
 * HEAD built in a temporary clone) at 1 thread.
 * --stages fast (not in the default set): ours exact and fast (`precision: 'fast'`) at 1 and
 * --threads N threads beside TF.js wasm at 1 thread (bench/fast.ts, in a child process with
 * relaxed SIMD on); its report goes to bench/results/fast/.
 */
const STAGES = ['ceiling', 'kernels', 'layers', 'models', 'threads', 'fast'] as const;
/** What runs without --stages. */
const DEFAULT_STAGES: readonly Stage[] = ['ceiling', 'kernels', 'layers', 'models'];
export type Stage = (typeof STAGES)[number];
const PEER_NAMES = ['tfjs-wasm', 'tfjs-cpu', 'ort-web', 'ort-node'] as const;
export type PeerChoice = (typeof PEER_NAMES)[number];

export interface SuiteOptions {
  alphas: number[];
  resolutions: number[];
  batches: number[];
  layers: string | null;
  peers: PeerChoice[];
  stages: Stage[];
  quick: boolean;
  json: boolean;
  /** Output folder; default bench/results (bench/results/quick with --quick). */
  out: string | null;
  /** The threads stage: the thread count set beside 1. */
  threads: number;
  /** The threads stage: another build of this package to time at 1 thread (its root folder). */
  baseline: string | null;
}

export class OptionError extends Error {}

const FLAGS_WITH_VALUE = new Set(['--alpha', '--resolution', '--batch', '--layers', '--peers', '--stages', '--out', '--threads', '--baseline']);
const FLAGS = new Set(['--quick', '--json', '--help']);

export const USAGE = `npm run bench -- [--quick] [--alpha 1,0.75,0.5,0.25] [--resolution 224,192,160,128] [--batch 1,8]
                 [--layers 0-5,Conv2d_13_pointwise,*_depthwise] [--peers tfjs-wasm,tfjs-cpu,ort-web,ort-node|none]
                 [--stages ceiling,kernels,layers,models,threads,fast] [--threads 2] [--baseline DIR] [--out DIR] [--json]`;

function list(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new OptionError(`${flag}: expected a comma-separated list, got "${value}"`);
  return items;
}

function numbers(flag: string, value: string, ok: (n: number) => boolean, what: string): number[] {
  return list(flag, value).map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || !ok(n)) throw new OptionError(`${flag}: expected ${what}, got "${s}"`);
    return n;
  });
}

export function parseSuiteArgs(argv: readonly string[]): SuiteOptions & { help: boolean } {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (FLAGS_WITH_VALUE.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new OptionError(`${name}: expected a value`);
      values.set(name, value);
    } else if (FLAGS.has(name) && eq < 0) {
      flags.add(name);
    } else {
      throw new OptionError(`unknown option "${arg}"; usage: ${USAGE}`);
    }
  }
  const quick = flags.has('--quick');
  const get = (flag: string) => values.get(flag);
  const alphas = get('--alpha') ? numbers('--alpha', get('--alpha')!, (n) => n > 0, 'numbers greater than 0') : quick ? [1, 0.25] : [1, 0.75, 0.5, 0.25];
  const resolutions = get('--resolution')
    ? numbers('--resolution', get('--resolution')!, (n) => Number.isInteger(n) && n >= 1 && n <= 2048, 'integers from 1 to 2048')
    : quick ? [224, 128] : [224, 192, 160, 128];
  const batches = get('--batch') ? numbers('--batch', get('--batch')!, (n) => Number.isInteger(n) && n >= 1 && n <= 64, 'integers from 1 to 64') : [1, 8];
  let peers: PeerChoice[] = [...PEER_NAMES];
  if (get('--peers') !== undefined) {
    const items = list('--peers', get('--peers')!);
    if (items.length === 1 && items[0] === 'none') peers = [];
    else {
      for (const p of items) if (!(PEER_NAMES as readonly string[]).includes(p)) throw new OptionError(`--peers: expected "none" or some of ${PEER_NAMES.join(', ')}, got "${p}"`);
      peers = [...new Set(items)] as PeerChoice[];
    }
  }
  let stages: Stage[] = [...DEFAULT_STAGES];
  if (get('--stages') !== undefined) {
    const items = list('--stages', get('--stages')!);
    for (const s of items) if (!(STAGES as readonly string[]).includes(s)) throw new OptionError(`--stages: expected some of ${STAGES.join(', ')}, got "${s}"`);
    stages = STAGES.filter((s) => items.includes(s));
  }
  const layers = get('--layers') ?? null;
  if (layers !== null) list('--layers', layers);
  const threads = get('--threads') ? numbers('--threads', get('--threads')!, (n) => Number.isInteger(n) && n >= 2 && n <= 64, 'an integer from 2 to 64')[0]! : 2;
  return { alphas, resolutions, batches, layers, peers, stages, quick, json: flags.has('--json'), out: get('--out') ?? null, help: flags.has('--help'), threads, baseline: get('--baseline') ?? null };
}

/**
 * Indices of the layers `spec` selects, in order, from `names` (the layer table's conv layers).
 * Items: an index, a range a-b (inclusive), a name, or a glob with * (e.g. *_depthwise).
 */
export function selectLayers(names: readonly string[], spec: string | null): number[] {
  if (spec === null) return names.map((_, i) => i);
  const chosen = new Set<number>();
  for (const item of list('--layers', spec)) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (range) {
      const a = Number(range[1]);
      const b = range[2] === undefined ? a : Number(range[2]);
      if (a > b || b >= names.length) throw new OptionError(`--layers: "${item}" is outside 0-${names.length - 1}`);
      for (let i = a; i <= b; i++) chosen.add(i);
      continue;
    }
    const re = new RegExp(`^${item.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    const hits = names.map((n, i) => (re.test(n) ? i : -1)).filter((i) => i >= 0);
    if (hits.length === 0) throw new OptionError(`--layers: "${item}" matches no layer; the layers are ${names.join(', ')}`);
    for (const i of hits) chosen.add(i);
  }
  return [...chosen].sort((a, b) => a - b);
}
