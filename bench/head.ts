/**
 * The classification heads (src/head/): training time of the linear head and the kNN on 1,000
 * embeddings of the default model, kNN prediction time over 10,000 stored examples, linear
 * prediction time, the saved files' sizes, and a check that training twice gives the same bytes.
 *
 *   npm run build:ts && npx tsc -p tsconfig.bench.json && node build/bench/bench/head.js [--json] [--examples N] [--stored N] [--runs N]
 *
 *   --examples N   training examples (default 1000)
 *   --stored N     kNN examples for the prediction timing (default 10000)
 *   --runs N       timed trainings per configuration; the median is reported (default 5)
 *   --json         the results as JSON on stdout
 *
 * The embeddings: seeded augmented crops (flips, crops from half the side, colour jitter) of the 8
 * shared photos (../shared/images or $MOBILENET_SHARED/images), embedded by the package's default
 * model (MobileNet v1 0.5 @ 160, 512 values), labelled with the 6 classes of the head tests (cat,
 * bird, coffee, dog, person, rocket) and, as a second configuration, one class per photo (8). Without
 * the photos, seeded random images stand in (the timings do not depend on the pixels). For the
 * prediction timing, the 1,000 embeddings are repeated with seeded noise (±2 %) up to --stored.
 *
 * Times are wall-clock in this process (one thread, Node), median of --runs, after one warm-up.
 * kNN prediction is timed with the WebAssembly SIMD similarities (the default) and without them
 * (plain JavaScript, as where wasm cannot be compiled), and the two heads' answers compared.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { load } from '../src/engine/load.js';
import { decodeImage, type RgbImage } from '../src/image/decode.js';
import { augmentImage, resolveAugment } from '../src/head/augment.js';
import { trainHead, type HeadExample } from '../src/head/index.js';
import { setWasmSimilarities } from '../src/head/simd.js';
import { mulberry32 } from '../src/model/random.js';

const PHOTOS = [
  ['cat', 'cat.png'],
  ['cat', 'chelsea.png'],
  ['bird', 'bird.png'],
  ['bird', 'parrot.jpg'],
  ['coffee', 'coffee.png'],
  ['dog', 'dog.png'],
  ['person', 'grace_hopper.png'],
  ['rocket', 'rocket.jpg'],
] as const;

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`${name}: expected a positive integer\n`);
    process.exit(2);
  }
  return n;
}

const EXAMPLES = flag('--examples', 1000);
const STORED = flag('--stored', 10_000);
const RUNS = flag('--runs', 5);
const JSON_OUT = process.argv.includes('--json');
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(`${s}\n`);

const here = fileURLToPath(new URL('.', import.meta.url));
function sharedImages(): string | null {
  const candidates = [process.env.MOBILENET_SHARED && resolve(process.env.MOBILENET_SHARED, 'images'), resolve(process.cwd(), '..', 'shared', 'images'), resolve(here, '..', '..', '..', '..', 'shared', 'images')];
  return candidates.find((d) => d && existsSync(resolve(d, 'cat.png'))) ?? null;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function sha256(bytes: Uint8Array): Promise<string> {
  return Buffer.from(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)).toString('hex');
}

const model = await load();
const [h, w] = model.inputShape;
const dir = sharedImages();
const next = mulberry32(11);
const augment = resolveAugment({ copies: 1, crop: 0.5, jitter: 0.15 })!;
const sources: { label6: string; label8: string; image: RgbImage }[] = dir
  ? PHOTOS.map(([label, file]) => ({ label6: label, label8: file.replace(/\.\w+$/, ''), image: decodeImage(new Uint8Array(readFileSync(resolve(dir, file))), file) }))
  : PHOTOS.map(([label, file]) => {
      const data = new Uint8Array(400 * 300 * 3).map(() => next() & 255);
      return { label6: label, label8: file.replace(/\.\w+$/, ''), image: { width: 400, height: 300, data } };
    });
log(`embedding ${EXAMPLES} crops of ${dir ? `the photos in ${dir}` : 'seeded random images (no shared photos found)'} with the default model...`);
const t0 = performance.now();
const embedded: { embedding: Float32Array; label6: string; label8: string; group: number }[] = [];
for (let i = 0; i < EXAMPLES; i++) {
  const s = sources[i % sources.length]!;
  embedded.push({ embedding: await model.embed(augmentImage(s.image, h, w, augment, next)), label6: s.label6, label8: s.label8, group: i % sources.length });
}
const embedMs = performance.now() - t0;
log(`  ${(embedMs / 1000).toFixed(1)} s (${(embedMs / EXAMPLES).toFixed(1)} ms per crop), ${embedded[0]!.embedding.length} values each`);

interface Row {
  config: string;
  trainMs: number;
  bytes: number;
  sha256: string;
  sameBytesTwice: boolean;
  iterations?: number;
}
const rows: Row[] = [];
for (const classes of [6, 8] as const) {
  const examples: HeadExample[] = embedded.map((e) => ({ embedding: e.embedding, label: classes === 6 ? e.label6 : e.label8, group: e.group }));
  for (const [name, options] of [
    ['linear', { method: 'linear' }],
    ['linear, unknown', { method: 'linear', unknown: true }],
    ['knn (temperature auto)', { method: 'knn' }],
    ['knn, unknown', { method: 'knn', unknown: true }],
  ] as const) {
    await trainHead(model, examples, options); // warm-up
    const times: number[] = [];
    let saved: Uint8Array | null = null;
    let same = true;
    let iterations: number | undefined;
    for (let r = 0; r < RUNS; r++) {
      const start = performance.now();
      const head = await trainHead(model, examples, options);
      times.push(performance.now() - start);
      const bytes = head.save();
      if (saved && (await sha256(saved)) !== (await sha256(bytes))) same = false;
      saved = bytes;
      iterations = head.training.iterations;
    }
    const row: Row = { config: `${name}, ${EXAMPLES} examples, ${classes} classes`, trainMs: median(times), bytes: saved!.length, sha256: await sha256(saved!), sameBytesTwice: same, ...(iterations !== undefined ? { iterations } : {}) };
    rows.push(row);
    log(`train ${row.config}: ${row.trainMs.toFixed(0)} ms${iterations !== undefined ? ` (${iterations} L-BFGS iterations)` : ''}, file ${(row.bytes / 1024).toFixed(1)} KiB, same bytes every run: ${same}`);
  }
}

// kNN prediction over STORED examples.
const noise = mulberry32(99);
const big: HeadExample[] = [];
for (let i = 0; i < STORED; i++) {
  const e = embedded[i % embedded.length]!;
  const v = new Float32Array(e.embedding.length);
  for (let d = 0; d < v.length; d++) v[d] = e.embedding[d]! * (1 + 0.04 * (noise() / 2 ** 32 - 0.5));
  big.push({ embedding: v, label: e.label6 });
}
let start = performance.now();
const knn = await trainHead(model, big, { method: 'knn', temperature: 0.05 });
const knnBuildMs = performance.now() - start;
const linear = await trainHead(model, embedded.map((e) => ({ embedding: e.embedding, label: e.label6 })), { method: 'linear' });
const queries = embedded.slice(0, 200).map((e) => e.embedding);
const timePredict = (head: typeof knn | typeof linear) => {
  for (const q of queries.slice(0, 20)) head.predictEmbedding(q); // warm-up
  const samples: number[] = [];
  for (const q of queries) {
    const s = performance.now();
    head.predictEmbedding(q);
    samples.push(performance.now() - s);
  }
  return { median: median(samples), p95: [...samples].sort((a, b) => a - b)[Math.floor(samples.length * 0.95)]! };
};
const knnPredict = timePredict(knn);
const linearPredict = timePredict(linear);
const knnBytes = knn.save().length;
log(`knn over ${STORED} stored examples: stored in ${knnBuildMs.toFixed(0)} ms; predict ${knnPredict.median.toFixed(2)} ms median, ${knnPredict.p95.toFixed(2)} ms p95 (WebAssembly SIMD similarities); file ${(knnBytes / 1024 / 1024).toFixed(1)} MiB`);
// The same without WebAssembly (Cloudflare Workers, a CSP without 'wasm-unsafe-eval'): the same answers, slower.
setWasmSimilarities(false);
const plain = await trainHead(model, big, { method: 'knn', temperature: 0.05 });
setWasmSimilarities(true);
const knnPlain = timePredict(plain);
const same = queries.every((q) => JSON.stringify(plain.predictEmbedding(q)) === JSON.stringify(knn.predictEmbedding(q)));
log(`knn over ${STORED} stored examples, plain JavaScript: ${knnPlain.median.toFixed(2)} ms median, ${knnPlain.p95.toFixed(2)} ms p95; the same answers as with SIMD: ${same}`);
log(`linear predict (6 classes): ${(linearPredict.median * 1000).toFixed(1)} µs median`);
start = performance.now();
const one = await trainHead(model, embedded.map((e) => ({ embedding: e.embedding, label: e.label6 })), { method: 'knn', temperature: 0.05 });
const removeStart = performance.now();
const ids = one.exampleIds();
for (const id of ids.slice(0, 100)) one.removeExample(id);
const removeMs = (performance.now() - removeStart) / 100;
log(`knn removeExample: ${(removeMs * 1000).toFixed(1)} µs each`);
model.dispose();

if (JSON_OUT) {
  process.stdout.write(
    `${JSON.stringify({ node: process.version, examples: EXAMPLES, embedMsPerCrop: embedMs / EXAMPLES, training: rows, knnPredict: { stored: STORED, ...knnPredict, fileBytes: knnBytes }, knnPredictPlainJs: { ...knnPlain, sameAnswers: same }, linearPredict, removeExampleMs: removeMs }, null, 2)}\n`,
  );
}
