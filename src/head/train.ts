/**
 * `trainHead(model, examples, options)` and `loadHead(bytes, model)`: your own classes on top of a
 * MobileNet's embeddings.
 *
 *   const head = await trainHead(model, [{ image: 'cat1.png', label: 'cat' }, { embedding, label: 'dog' }, ...], { method: 'linear' });
 *   await head.predict(image);            // [{ label, probability, score }, ...] sorted
 *   const bytes = head.save();            // one safetensors file
 *   const again = await loadHead(bytes, model);   // ERR_HEAD_MODEL if `model` is another base model
 *
 * Training, in order: the options and every example are checked (labels, one of image and
 * embedding, embedding lengths and values) before anything is embedded; images are embedded
 * (with `augment`, each image also as seeded augmented copies, augment.ts); every embedding is
 * L2-normalised (float32); then
 *
 *   knn     the examples are stored (knn.ts); the temperature ('auto', the default) is chosen
 *           from TEMPERATURES by the lowest leave-one-out log-loss on up to 256 examples (seeded
 *           choice), each scored against the examples of other groups only (a group is one source
 *           image with its augmented copies, or the example's `group`); with fewer than 20 such
 *           examples, 0.05;
 *   linear  softmax regression by L-BFGS (linear.ts).
 *
 * Unknown (`unknown: true`, or `{ quantile }`): the threshold is the `quantile` (default 0.05)
 * of the winning class's score over examples the head answers correctly without having seen
 * them: kNN, the leave-one-out examples above; linear, a held-out fifth of the groups of every
 * class that has two groups or more (seeded), the head trained on the rest, then trained again
 * on everything. Where nothing can be held out, the training examples' own scores (optimistic);
 * where no example is answered right even so (one example per class), none: `threshold` stays
 * null. `threshold: t` sets it instead. Off unless asked for.
 *
 * Everything is deterministic for a given seed and the same embeddings in the same order: the
 * saved bytes are the same in every runtime (math.ts says how).
 */
import { ErrorCodes, MobilenetError, badOption, describe, fail } from '../errors.js';
import { checkAborted } from '../fetch.js';
import type { CallOptions } from '../engine/mobilenet.js';
import { mulberry32 } from '../model/random.js';
import { checkImageOptions, readImage, type ImageInput } from '../image/sources.js';
import { augmentImage, resolveAugment, type AugmentOptions } from './augment.js';
import { decodeHeadFile } from './format.js';
import {
  KnnHeadImpl,
  LinearHeadImpl,
  UNKNOWN_LABEL,
  checkLabel,
  meanNll,
  normalizedEmbedding,
  type EmbeddingInput,
  type Head,
  type HeadMethod,
  type HeadState,
  type KnnHead,
  type LinearHead,
} from './heads.js';
import { checkBaseModel, defaultEndpoint, describeIdentity, identityDifferences, modelIdentity, type BaseModelIdentity, type HeadBaseModel } from './identity.js';
import { trainLinear, linearLogits, type LinearTrainOptions } from './linear.js';
import { quantile, shuffle } from './math.js';

export interface HeadExample {
  /** An image of any kind `embed` takes. */
  image?: ImageInput;
  /** Or its embedding, computed before (the base model's end point, `dim` values). */
  embedding?: EmbeddingInput;
  /** The class name: any non-empty string but UNKNOWN_LABEL. */
  label: string;
  /** Examples of one group (crops of one photo, frames of one clip) are never split between training and held-out examples. Default: each example its own group. */
  group?: string | number;
}

export interface TrainProgress {
  phase: 'embed' | 'train';
  /** Embeddings done (phase embed), or 0 / 1 (phase train). */
  done: number;
  total: number;
}

export interface TrainHeadOptions extends CallOptions {
  /** Default `knn`. */
  method?: HeadMethod;
  /** The classes in the head's order (each must have examples). Default: in the order the examples first name them. */
  labels?: readonly string[];
  /** The end point whose features the head reads. Default AvgPool_1a (the pooled features). */
  endpoint?: string;
  /** kNN: neighbours per class. Default 3. */
  k?: number;
  /** kNN: the softmax temperature, or `auto` (default; see above). */
  temperature?: number | 'auto';
  /** Linear: the L2 penalty. Default 1e-3. */
  l2?: number;
  /** Linear: L-BFGS iterations at most. Default 200. */
  maxIterations?: number;
  /** Linear: `balanced` (default: every class weighs the same in the loss) or `none`. */
  classWeight?: 'balanced' | 'none';
  /** Choose an unknown threshold (see above). Default false. */
  unknown?: boolean | { quantile?: number };
  /** The unknown threshold itself (score scale: kNN similarity, linear logit); wins over `unknown`. */
  threshold?: number;
  /** Augmented copies of the image examples (flips, crops, colour jitter; seeded). Default none. */
  augment?: boolean | AugmentOptions;
  /** Seed of the augmentation and of the held-out choices. Default 1. */
  seed?: number;
  onProgress?: (progress: TrainProgress) => void;
}

const TRAIN_OPTIONS = new Set([
  'method', 'labels', 'endpoint', 'k', 'temperature', 'l2', 'maxIterations', 'classWeight', 'unknown', 'threshold', 'augment', 'seed', 'onProgress',
  'fetch', 'signal', 'timeouts', 'redirects', 'decoder', 'orientation',
]);

/** The temperatures `auto` chooses from (kNN). */
export const TEMPERATURES = [0.01, 0.015, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3] as const;
const DEFAULT_TEMPERATURE = 0.05;
const MAX_PROBES = 256;
/** Fewer leave-one-out examples than this say too little about the temperature: DEFAULT_TEMPERATURE. */
const MIN_PROBES_FOR_TEMPERATURE = 20;
const HELD_OUT_FRACTION = 0.2;

export interface Embedded {
  rows: Float32Array[];
  classes: number[];
  groups: number[];
}

interface Resolved {
  method: HeadMethod;
  endpoint: string;
  k: number;
  temperature: number | 'auto';
  linear: LinearTrainOptions;
  unknown: { quantile: number } | null;
  threshold: number | null;
  augment: ReturnType<typeof resolveAugment>;
  seed: number;
  call: CallOptions;
  onProgress: ((p: TrainProgress) => void) | undefined;
}

function resolveOptions(model: HeadBaseModel, options: TrainHeadOptions): Resolved {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) badOption('trainHead options', options, 'an object');
  for (const key of Object.keys(options)) {
    if (!TRAIN_OPTIONS.has(key)) badOption(key, (options as Record<string, unknown>)[key], `one of the trainHead options ${[...TRAIN_OPTIONS].join(', ')}`);
  }
  const method = options.method ?? 'knn';
  if (method !== 'knn' && method !== 'linear') badOption('method', method, '"knn" or "linear"');
  const endpoint = options.endpoint ?? defaultEndpoint(model);
  if (typeof endpoint !== 'string' || !model.endpoints.includes(endpoint)) badOption('endpoint', endpoint, `one of ${model.endpoints.join(', ')}`);
  const k = options.k ?? 3;
  if (!Number.isSafeInteger(k) || k < 1 || k > 1000) badOption('k', k, 'an integer from 1 to 1000');
  const temperature = options.temperature ?? 'auto';
  if (temperature !== 'auto' && (typeof temperature !== 'number' || !(temperature > 0) || !Number.isFinite(temperature))) badOption('temperature', temperature, '"auto" or a number above 0');
  const l2 = options.l2 ?? 1e-3;
  if (typeof l2 !== 'number' || !(l2 > 0) || !Number.isFinite(l2)) badOption('l2', l2, 'a number above 0');
  const maxIterations = options.maxIterations ?? 200;
  if (!Number.isSafeInteger(maxIterations) || maxIterations < 1) badOption('maxIterations', maxIterations, 'a positive integer');
  const classWeight = options.classWeight ?? 'balanced';
  if (classWeight !== 'balanced' && classWeight !== 'none') badOption('classWeight', classWeight, '"balanced" or "none"');
  let unknown: { quantile: number } | null = null;
  const u = options.unknown;
  if (u === true) unknown = { quantile: 0.05 };
  else if (u !== undefined && u !== false) {
    if (u === null || typeof u !== 'object') badOption('unknown', u, 'true, false or { quantile }');
    const q = u.quantile ?? 0.05;
    if (typeof q !== 'number' || !(q >= 0 && q < 1)) badOption('unknown.quantile', q, 'a number from 0 to below 1');
    unknown = { quantile: q };
  }
  const threshold = options.threshold ?? null;
  if (threshold !== null && (typeof threshold !== 'number' || !Number.isFinite(threshold))) badOption('threshold', threshold, 'a finite number');
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 0xffffffff) badOption('seed', seed, 'an integer from 0 to 2^32 - 1');
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') badOption('onProgress', onProgress, 'a function');
  const { fetch, signal, timeouts, redirects, decoder, orientation } = options;
  const call = Object.fromEntries(Object.entries({ fetch, signal, timeouts, redirects, decoder, orientation }).filter(([, v]) => v !== undefined)) as CallOptions;
  return {
    method,
    endpoint,
    k,
    temperature,
    linear: { l2, maxIterations, tolerance: 1e-6, classWeight },
    unknown,
    threshold,
    augment: resolveAugment(options.augment),
    seed,
    call,
    onProgress,
  };
}

/** Checks the examples and names the classes; nothing is embedded yet. */
function checkExamples(examples: unknown, base: BaseModelIdentity, given: readonly string[] | undefined): { labels: string[]; classes: number[]; groups: number[] } {
  if (!Array.isArray(examples)) fail(ErrorCodes.HEAD_DATA, `trainHead: expected a list of examples { image | embedding, label }, got ${describe(examples)}`);
  let labels: string[] = [];
  const index = new Map<string, number>();
  if (given !== undefined) {
    if (!Array.isArray(given)) badOption('labels', given, 'a list of class names');
    given.forEach((l, i) => {
      checkLabel(l, `labels[${i}]`);
      if (index.has(l)) fail(ErrorCodes.HEAD_DATA, `labels[${i}]: ${JSON.stringify(l)} is listed twice`);
      index.set(l, i);
    });
    labels = [...given];
  }
  const classes: number[] = [];
  const groups: number[] = [];
  const groupIds = new Map<string, number>();
  examples.forEach((e: unknown, i) => {
    const what = `examples[${i}]`;
    if (e === null || typeof e !== 'object') fail(ErrorCodes.HEAD_DATA, `${what}: expected { image | embedding, label }, got ${describe(e)}`);
    const ex = e as HeadExample;
    const label = checkLabel(ex.label, `${what}.label`);
    if ((ex.image === undefined) === (ex.embedding === undefined)) fail(ErrorCodes.HEAD_DATA, `${what}: expected exactly one of image and embedding`);
    if (ex.embedding !== undefined) normalizedEmbedding(ex.embedding, base, `${what}.embedding`);
    let cls = index.get(label);
    if (cls === undefined) {
      if (given !== undefined) fail(ErrorCodes.HEAD_DATA, `${what}.label: ${JSON.stringify(label)} is not among the classes given in labels (${given.map((l) => JSON.stringify(l)).join(', ')})`);
      cls = labels.length;
      labels.push(label);
      index.set(label, cls);
    }
    classes.push(cls);
    if (ex.group !== undefined && typeof ex.group !== 'string' && typeof ex.group !== 'number') fail(ErrorCodes.HEAD_DATA, `${what}.group: expected a string or a number, got ${describe(ex.group)}`);
    const key = ex.group === undefined ? `\u0000${i}` : `${typeof ex.group}:${ex.group}`;
    if (!groupIds.has(key)) groupIds.set(key, groupIds.size);
    groups.push(groupIds.get(key)!);
  });
  if (examples.length === 0) fail(ErrorCodes.HEAD_DATA, 'trainHead: no examples; expected examples of at least 2 classes');
  const counts = labels.map(() => 0);
  for (const c of classes) counts[c]!++;
  const empty = counts.findIndex((n) => n === 0);
  if (empty >= 0) fail(ErrorCodes.HEAD_DATA, `trainHead: class ${JSON.stringify(labels[empty])} has no examples; expected at least one example of every class`);
  if (labels.length < 2) fail(ErrorCodes.HEAD_DATA, `trainHead: only one class (${JSON.stringify(labels[0])}, ${examples.length} example${examples.length === 1 ? '' : 's'}); expected examples of at least 2 classes`);
  return { labels, classes, groups };
}

/**
 * Embeds images for a head: each image, normalised, then (with `augment`) its augmented copies,
 * from one seeded stream consumed in call order. trainHead uses it; so does `mobilenet train`,
 * which embeds file by file to report a broken file and go on.
 */
export interface Embedder {
  readonly base: BaseModelIdentity;
  /** Normalised embeddings: the image (or the embedding) itself, then its augmented copies when `augment`. */
  embed(input: { image?: ImageInput; embedding?: EmbeddingInput }, what: string, augment?: boolean): Promise<Float32Array[]>;
  /** Augmented copies made per image (0 without augmentation). */
  readonly copies: number;
}

export async function createEmbedder(model: HeadBaseModel, options: TrainHeadOptions = {}): Promise<Embedder> {
  checkBaseModel(model, 'trainHead');
  const o = resolveOptions(model, options);
  const base = await modelIdentity(model, o.endpoint);
  return makeEmbedder(model, base, o);
}

function makeEmbedder(model: HeadBaseModel, base: BaseModelIdentity, o: Resolved): Embedder {
  const next = mulberry32(o.seed);
  const [height, width] = base.resolution;
  const imageOptions = checkImageOptions({ ...(o.call.decoder ? { decoder: o.call.decoder } : {}), ...(o.call.orientation !== undefined ? { orientation: o.call.orientation } : {}) });
  const embed = (image: ImageInput, what: string) =>
    model.embed(image, { ...o.call, endpoint: base.endpoint }).catch((e: unknown) => {
      if (e instanceof MobilenetError && !e.message.startsWith(what)) throw new MobilenetError(e.code, `${what}: ${e.message}`, { cause: e });
      throw e;
    });
  return {
    base,
    copies: o.augment?.copies ?? 0,
    async embed(input, what, augment = true) {
      checkAborted(o.call.signal, 'trainHead');
      if (input.embedding !== undefined) return [normalizedEmbedding(input.embedding, base, `${what}.embedding`)];
      const rows = [normalizedEmbedding(await embed(input.image!, `${what}.image`), base, `${what}.image`)];
      if (!o.augment || !augment) return rows;
      const read = await readImage(input.image, imageOptions, { ...o.call, redirects: o.call.redirects ?? 'any' }, `${what}.image`);
      // A tensor the caller normalised has no pixels to augment.
      if (!('rgb' in read)) return rows;
      for (let c = 0; c < o.augment.copies; c++) {
        checkAborted(o.call.signal, 'trainHead');
        const image = augmentImage(read.rgb, height, width, o.augment, next);
        rows.push(normalizedEmbedding(await embed(image, `${what}.image (augmented copy ${c + 1})`), base, `${what}.image`));
      }
      return rows;
    },
  };
}

/** Embeds the examples (and their augmented copies) and normalises every embedding. */
async function embedExamples(embedder: Embedder, examples: readonly HeadExample[], checked: { classes: number[]; groups: number[] }, o: Resolved): Promise<Embedded> {
  const total = examples.reduce((n, e) => n + (e.image !== undefined ? 1 + embedder.copies : 1), 0);
  const out: Embedded = { rows: [], classes: [], groups: [] };
  let done = 0;
  for (let i = 0; i < examples.length; i++) {
    const rows = await embedder.embed(examples[i]!, `examples[${i}]`);
    for (const row of rows) {
      out.rows.push(row);
      out.classes.push(checked.classes[i]!);
      out.groups.push(checked.groups[i]!);
    }
    done += examples[i]!.image !== undefined ? 1 + embedder.copies : 1;
    o.onProgress?.({ phase: 'embed', done, total });
  }
  return out;
}

/**
 * Trains a head on examples `{ image | embedding, label }` (see the top of this file). The model
 * must run in this thread (its weights are hashed into the head's identity).
 */
export async function trainHead(model: HeadBaseModel, examples: readonly HeadExample[], options: TrainHeadOptions & { method: 'linear' }): Promise<LinearHead>;
export async function trainHead(model: HeadBaseModel, examples: readonly HeadExample[], options?: TrainHeadOptions & { method?: 'knn' }): Promise<KnnHead>;
export async function trainHead(model: HeadBaseModel, examples: readonly HeadExample[], options?: TrainHeadOptions): Promise<Head>;
export async function trainHead(model: HeadBaseModel, examples: readonly HeadExample[], options: TrainHeadOptions = {}): Promise<Head> {
  checkBaseModel(model, 'trainHead');
  const o = resolveOptions(model, options);
  const base = await modelIdentity(model, o.endpoint);
  const checked = checkExamples(examples, base, options.labels);
  const data = await embedExamples(makeEmbedder(model, base, o), examples, checked, o);
  checkAborted(o.call.signal, 'trainHead');
  o.onProgress?.({ phase: 'train', done: 0, total: 1 });
  const head = o.method === 'knn' ? trainKnn(model, base, checked.labels, data, o) : trainLinearHead(model, base, checked.labels, data, o);
  o.onProgress?.({ phase: 'train', done: 1, total: 1 });
  return head;
}

/**
 * The same on embeddings already normalised (from an Embedder): `rows[i]` of class
 * `labels[classes[i]]`, of group `groups[i]` (kept together when some are held out).
 */
export function trainOnEmbedded(model: HeadBaseModel, base: BaseModelIdentity, labels: string[], data: Embedded, options: TrainHeadOptions = {}): Head {
  const o = resolveOptions(model, { ...options, endpoint: base.endpoint });
  labels.forEach((l, i) => checkLabel(l, `labels[${i}]`));
  if (new Set(labels).size !== labels.length) fail(ErrorCodes.HEAD_DATA, `labels: a class is named twice in ${describe(labels)}`);
  const counts = labels.map(() => 0);
  for (const c of data.classes) {
    if (!(c >= 0 && c < labels.length)) fail(ErrorCodes.HEAD_DATA, `class index ${c} is not one of the ${labels.length} labels`);
    counts[c]!++;
  }
  const empty = counts.findIndex((n) => n === 0);
  if (empty >= 0) fail(ErrorCodes.HEAD_DATA, `class ${JSON.stringify(labels[empty])} has no examples; expected at least one example of every class`);
  if (labels.length < 2) fail(ErrorCodes.HEAD_DATA, `only one class (${JSON.stringify(labels[0] ?? null)}); expected examples of at least 2 classes`);
  data.rows.forEach((r, i) => {
    if (r.length !== base.dim) fail(ErrorCodes.EMBEDDING, `rows[${i}]: expected ${base.dim} values, got ${r.length}`);
  });
  return o.method === 'knn' ? trainKnn(model, base, labels, data, o) : trainLinearHead(model, base, labels, data, o);
}

function state(model: HeadBaseModel, base: BaseModelIdentity, threshold: number | null, o: Resolved, training: HeadState['training'], params: Record<string, string>): HeadState {
  return { model, base, threshold, seed: o.seed, training, params };
}

function trainKnn(model: HeadBaseModel, base: BaseModelIdentity, labels: string[], data: Embedded, o: Resolved): KnnHead {
  const head = new KnnHeadImpl(state(model, base, null, o, { examples: data.rows.length }, {}), o.k, DEFAULT_TEMPERATURE);
  for (const l of labels) head.classOf(l);
  data.rows.forEach((row, i) => head.addNormalized(row, labels[data.classes[i]!]!));
  const wantThreshold = o.unknown !== null && o.threshold === null;
  // Leave-one-out: each chosen example scored against the examples of the other groups.
  const probes: { scores: Float64Array; truth: number }[] = [];
  let thresholdProbes = probes;
  if (o.temperature === 'auto' || wantThreshold) {
    const n = data.rows.length;
    let chosen = Array.from({ length: n }, (_, i) => i);
    if (n > MAX_PROBES) chosen = shuffle(chosen, mulberry32(o.seed ^ 0x5eed)).slice(0, MAX_PROBES).sort((a, b) => a - b);
    const sims = new Float64Array(n);
    const score = (i: number, keep: (slot: number) => boolean) => {
      head.store.similarities(data.rows[i]!, sims);
      return head.store.classScores(sims, labels.length, o.k, keep);
    };
    for (const i of chosen) {
      const scores = score(i, (slot) => data.groups[slot] !== data.groups[i]);
      if (scores[data.classes[i]!] !== -Infinity) probes.push({ scores, truth: data.classes[i]! });
    }
    if (probes.length === 0 && wantThreshold) {
      // Every class is one group: the threshold from each example against all the others (optimistic).
      thresholdProbes = chosen.map((i) => ({ scores: score(i, (slot) => slot !== i), truth: data.classes[i]! }));
    }
  }
  let temperature = o.temperature === 'auto' ? DEFAULT_TEMPERATURE : o.temperature;
  if (o.temperature === 'auto' && probes.length >= MIN_PROBES_FOR_TEMPERATURE) {
    let best = Infinity;
    for (const t of TEMPERATURES) {
      const nll = meanNll(probes, t);
      if (nll < best) {
        best = nll;
        temperature = t;
      }
    }
  }
  head.temperature = temperature;
  head.threshold = o.threshold ?? (wantThreshold ? thresholdFrom(thresholdProbes, o.unknown!.quantile) : null);
  head.training = { examples: data.rows.length, probes: probes.length };
  return head;
}

/** The quantile of the winning score over the correctly answered records; null when there are none. */
function thresholdFrom(records: readonly { scores: Float64Array; truth: number }[], q: number): number | null {
  const winning: number[] = [];
  for (const { scores, truth } of records) {
    let best = 0;
    for (let c = 1; c < scores.length; c++) if (scores[c]! > scores[best]!) best = c;
    if (best === truth) winning.push(scores[best]!);
  }
  return winning.length === 0 ? null : quantile(winning, q);
}

function stack(data: Embedded, pick: readonly number[], dim: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(pick.length * dim);
  const y = new Int32Array(pick.length);
  pick.forEach((i, r) => {
    x.set(data.rows[i]!, r * dim);
    y[r] = data.classes[i]!;
  });
  return { x, y };
}

function trainLinearHead(model: HeadBaseModel, base: BaseModelIdentity, labels: string[], data: Embedded, o: Resolved): LinearHead {
  const C = labels.length;
  const dim = base.dim;
  const all = data.rows.map((_, i) => i);
  let threshold = o.threshold;
  let heldOut = 0;
  // With a held-out fit, the final fit starts from it (fewer iterations; the same bits everywhere still).
  let start: Float64Array | undefined;
  if (threshold === null && o.unknown) {
    // Hold out a fifth of the groups of every class that has two groups or more.
    const next = mulberry32(o.seed ^ 0x11d0);
    const out = new Set<number>();
    for (let c = 0; c < C; c++) {
      const groups = [...new Set(all.filter((i) => data.classes[i] === c).map((i) => data.groups[i]!))];
      if (groups.length < 2) continue;
      const take = Math.min(groups.length - 1, Math.max(1, Math.round(groups.length * HELD_OUT_FRACTION)));
      for (const g of shuffle(groups, next).slice(0, take)) out.add(g);
    }
    const test = all.filter((i) => out.has(data.groups[i]!));
    const train = all.filter((i) => !out.has(data.groups[i]!));
    const trainClasses = new Set(train.map((i) => data.classes[i]));
    let records: { scores: Float64Array; truth: number }[];
    if (test.length > 0 && trainClasses.size === C) {
      const { x, y } = stack(data, train, dim);
      const fit = trainLinear(x, y, C, dim, o.linear);
      start = fit.theta;
      records = test.map((i) => ({ scores: linearLogits(fit.weight, fit.bias, data.rows[i]!, C, dim), truth: data.classes[i]! }));
      heldOut = test.length;
    } else {
      records = [];
    }
    let fitOnAll: ReturnType<typeof trainLinear> | undefined;
    if (records.length === 0) {
      const { x, y } = stack(data, all, dim);
      fitOnAll = trainLinear(x, y, C, dim, o.linear);
      const f = fitOnAll;
      records = all.map((i) => ({ scores: linearLogits(f.weight, f.bias, data.rows[i]!, C, dim), truth: data.classes[i]! }));
    }
    threshold = thresholdFrom(records, o.unknown.quantile);
    if (fitOnAll) return linearHead(model, base, labels, data, o, threshold, 0, fitOnAll);
  }
  const { x, y } = stack(data, all, dim);
  return linearHead(model, base, labels, data, o, threshold, heldOut, trainLinear(x, y, C, dim, o.linear, start));
}

function linearHead(model: HeadBaseModel, base: BaseModelIdentity, labels: string[], data: Embedded, o: Resolved, threshold: number | null, heldOut: number, fit: ReturnType<typeof trainLinear>): LinearHead {
  const params = { l2: String(o.linear.l2), class_weight: o.linear.classWeight, iterations: String(fit.iterations), max_iterations: String(o.linear.maxIterations) };
  return new LinearHeadImpl(state(model, base, threshold, o, { examples: data.rows.length, iterations: fit.iterations, loss: fit.loss, ...(heldOut ? { heldOut } : {}) }, params), labels, fit.weight, fit.bias);
}

/**
 * Reads a head saved by `head.save()` for `model`. Refuses a head of another base model with
 * ERR_HEAD_MODEL naming what differs (alpha, resolution, end point, normalisation, weights).
 */
export async function loadHead(bytes: Uint8Array | ArrayBuffer, model: HeadBaseModel, options: { name?: string } = {}): Promise<Head> {
  checkBaseModel(model, 'loadHead');
  const where = options.name ?? 'head';
  const file = decodeHeadFile(bytes as Uint8Array, where);
  if (!model.endpoints.includes(file.base.endpoint)) {
    fail(ErrorCodes.HEAD_MODEL, `${where}: saved for ${describeIdentity(file.base)}; this model has no end point ${file.base.endpoint}`);
  }
  const actual = await modelIdentity(model, file.base.endpoint);
  const differences = identityDifferences(file.base, actual);
  if (differences.length > 0) {
    fail(ErrorCodes.HEAD_MODEL, `${where}: saved for another base model (${describeIdentity(file.base)}); differs in ${differences.join('; ')}`);
  }
  const examples = Number(file.params.examples ?? 0);
  const s: HeadState = { model, base: actual, threshold: file.threshold, seed: file.seed, training: { examples }, params: {} };
  if (file.method === 'knn') {
    const k = Number(file.params.k);
    const temperature = Number(file.params.temperature);
    if (!Number.isSafeInteger(k) || k < 1) fail(ErrorCodes.HEAD_FORMAT, `${where}: k: expected a positive integer, found ${describe(file.params.k ?? null)}`);
    if (!(temperature > 0) || !Number.isFinite(temperature)) fail(ErrorCodes.HEAD_FORMAT, `${where}: temperature: expected a number above 0, found ${describe(file.params.temperature ?? null)}`);
    const head = new KnnHeadImpl(s, k, temperature);
    for (const l of file.labels) head.classOf(l);
    const rows = file.tensors.get('embeddings')!.data;
    const classes = file.tensors.get('classes')!.data;
    const dim = actual.dim;
    for (let i = 0; i < classes.length; i++) head.addNormalized(rows.subarray(i * dim, (i + 1) * dim), file.labels[classes[i]!]!);
    head.training = { examples: classes.length };
    return head;
  }
  const params = Object.fromEntries(Object.entries(file.params).filter(([k]) => ['l2', 'class_weight', 'iterations', 'max_iterations'].includes(k)));
  return new LinearHeadImpl({ ...s, params }, file.labels, file.tensors.get('weight')!.data, file.tensors.get('bias')!.data);
}

