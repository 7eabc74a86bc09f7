/**
 * The threads stage's child process (bench/stages/threads.ts): ort-web and TF.js wasm at N
 * threads, which each choose their thread count once per process, timed interleaved with ours
 * at 1 and N threads; prints one JSON line (ChildReport).
 *
 *   node build/bench/bench/threads-child.js '{"alpha":1,"resolution":224,"batch":1,"seed":1,"threads":2,"peers":["ort-web","tfjs-wasm"],"rounds":5,"sliceMs":300,"warmupMs":300,"kernels":{...}}'
 */
import { seededModel } from '../src/engine/measure.js';
import type { PeerChoice } from './lib/options.js';
import { initTfjsWasmThreads } from './lib/tfjs-threads.js';
import { createPeer } from './peers.js';
import { oursEngine, timeWorld, type ChildReport, type ThreadsStageOptions } from './stages/threads.js';

interface ChildOptions {
  alpha: number;
  resolution: number;
  batch: number;
  seed: number;
  threads: number;
  peers: PeerChoice[];
  rounds: number;
  sliceMs: number;
  warmupMs: number;
  quietWaitMs: number;
  kernels: ThreadsStageOptions['kernels'];
}

const o = JSON.parse(process.argv[2] ?? '') as ChildOptions;
const notes: string[] = [];
const N = o.threads;
let tfjsThreads: number | null = null;
if (o.peers.includes('tfjs-wasm')) {
  // Before anything initialises TF.js's wasm backend (peers.ts only imports it).
  tfjsThreads = await initTfjsWasmThreads(N);
  notes.push(`TF.js wasm in the child process: its threaded build forced on in Node (bench/lib/tfjs-threads.ts), setThreadsCount(${N}); it reports ${tfjsThreads} threads.`);
}
const { arch, folded } = seededModel(o);
const builders: Parameters<typeof timeWorld>[2] = [
  { engine: 'ours', threads: 1, exact: true, build: async () => (await oursEngine(arch, folded, o.batch, 1, o.kernels)).engine },
  { engine: 'ours', threads: N, exact: true, build: async () => (await oursEngine(arch, folded, o.batch, N, o.kernels)).engine },
];
for (const peer of o.peers) builders.push({ engine: peer, threads: N, build: async () => ({ ...(await createPeer(peer, arch, folded, o.batch, N)), name: `${peer}@${N}` }) });
const { rows, skipped } = await timeWorld('child', o, builders, o, (t) => process.stderr.write(`${t}\n`));
process.stdout.write(`${JSON.stringify({ rows, skipped, notes } satisfies ChildReport)}\n`);
// ort-web's and TF.js's worker threads would keep the process alive.
process.exit(0);
