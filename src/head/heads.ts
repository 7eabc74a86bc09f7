/**
 * The two heads, as objects: a kNN over stored examples and a trained linear layer, both on
 * L2-normalised embeddings of one base model, both answering `{ label, probability, score }[]`.
 *
 * Scores and probabilities (both methods): each class has a score s_c (kNN: the mean cosine
 * similarity of its k nearest stored examples, 0..1 for the ReLU features; linear: its logit).
 * Probabilities are softmax(s / T) over the classes (kNN: T is the head's temperature; linear:
 * T = 1). With an unknown threshold t, "unknown" is one more entry with score t in that softmax:
 * it comes first exactly when every class scores below t, and the probabilities (unknown
 * included) still sum to 1.
 */
import { ErrorCodes, badOption, describe, fail } from '../errors.js';
import type { CallOptions } from '../engine/mobilenet.js';
import type { ImageInput } from '../image/sources.js';
import { describeIdentity, type BaseModelIdentity, type HeadBaseModel } from './identity.js';
import { encodeHeadFile } from './format.js';
import { ExampleStore } from './knn.js';
import { linearLogits } from './linear.js';
import { exp, log, rsqrt, sumOfSquares } from './math.js';

/** The label of the unknown answer; no class may be named so. */
export const UNKNOWN_LABEL = '<unknown>';

export interface HeadPrediction {
  /** A class name, or UNKNOWN_LABEL. */
  label: string;
  /** Softmax probability; all the entries of one prediction sum to 1. */
  probability: number;
  /** What the unknown threshold is compared with: kNN, the class's mean cosine similarity to its k nearest examples; linear, its logit. */
  score: number;
}

/** An embedding given directly: the end point's values, as many as the head's `dim`. */
export type EmbeddingInput = Float32Array | Float64Array | readonly number[];

export interface PredictOptions extends CallOptions {
  /** Classes to return (the unknown entry counts as one). Default: all. */
  topK?: number;
  /** The unknown threshold on the score scale (kNN: similarity, linear: logit); null: none. Default: the head's own. */
  threshold?: number | null;
}

export interface HeadTraining {
  /** Embeddings the head was trained on (augmented copies included). */
  readonly examples: number;
  /** L-BFGS iterations (linear). */
  readonly iterations?: number;
  /** Final training loss (linear). */
  readonly loss?: number;
  /** Leave-one-out examples the temperature and threshold were chosen on (kNN). */
  readonly probes?: number;
  /** Held-out examples the threshold was chosen on (linear, with unknown). */
  readonly heldOut?: number;
}

export type HeadMethod = 'knn' | 'linear';

interface HeadCore {
  readonly method: HeadMethod;
  /** The classes, in the head's order. */
  readonly labels: readonly string[];
  /** Values per embedding. */
  readonly dim: number;
  /** The base model the head belongs to (written into the saved file, checked on load). */
  readonly base: BaseModelIdentity;
  /** The unknown threshold (score scale), or null when the head never answers unknown. */
  readonly threshold: number | null;
  /** The seed of augmentation and of the held-out choices. */
  readonly seed: number;
  readonly training: HeadTraining;
  /** Classes of one image (embedded by the base model) or of an embedding, sorted by probability. */
  predict(input: ImageInput | EmbeddingInput, options?: PredictOptions): Promise<HeadPrediction[]>;
  /** The same for an embedding, synchronously. */
  predictEmbedding(embedding: EmbeddingInput, options?: Omit<PredictOptions, keyof CallOptions>): HeadPrediction[];
}

export interface KnnHead extends HeadCore {
  readonly method: 'knn';
  readonly k: number;
  readonly temperature: number;
  /** Stored examples. */
  readonly size: number;
  /** Embeds an image (or takes an embedding) and stores it; returns its id. */
  addExample(example: { image?: ImageInput; embedding?: EmbeddingInput; label: string }, options?: CallOptions): Promise<number>;
  /** Stores an embedding; returns its id. */
  addEmbedding(embedding: EmbeddingInput, label: string): number;
  /** Forgets one example; false when there is no such id. */
  removeExample(id: number): boolean;
  /** Forgets every example of a class; returns how many. */
  removeClass(label: string): number;
  /** The ids of the stored examples of a class (all classes when omitted), in storage order. */
  exampleIds(label?: string): number[];
  /** One safetensors file: the stored embeddings and their classes, k, temperature, threshold, the base model. */
  save(): Uint8Array;
}

export interface LinearHead extends HeadCore {
  readonly method: 'linear';
  /** [classes, dim], row-major: logits = weight x + bias on the normalised embedding. */
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  /** One safetensors file: the weights, the threshold, the base model. */
  save(): Uint8Array;
}

export type Head = KnnHead | LinearHead;

export interface HeadState {
  model: HeadBaseModel;
  base: BaseModelIdentity;
  threshold: number | null;
  seed: number;
  training: HeadTraining;
  /** How it was trained, as written into the file's metadata (`l2`, `class_weight`, ...). */
  params: Record<string, string>;
}

export function isEmbeddingInput(v: unknown): v is EmbeddingInput {
  return v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v);
}

/** Checks an embedding's length and values; returns it L2-normalised (float32). */
export function normalizedEmbedding(v: unknown, base: BaseModelIdentity, what: string): Float32Array {
  if (!isEmbeddingInput(v)) fail(ErrorCodes.EMBEDDING, `${what}: expected ${base.dim} numbers (a Float32Array, Float64Array or array), got ${describe(v)}`);
  if (v.length !== base.dim) {
    fail(ErrorCodes.EMBEDDING, `${what}: expected ${base.dim} values (the ${base.endpoint} features of ${describeIdentity(base)}), got ${v.length}`);
  }
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) fail(ErrorCodes.EMBEDDING, `${what}: value ${i} is ${describe(x)}; expected ${base.dim} finite numbers`);
  }
  const r = rsqrt(sumOfSquares(v));
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * r;
  return out;
}

export function checkLabel(label: unknown, what: string): string {
  if (typeof label !== 'string' || label === '') fail(ErrorCodes.HEAD_DATA, `${what}: expected a class name (a non-empty string), got ${describe(label)}`);
  if (label === UNKNOWN_LABEL) fail(ErrorCodes.HEAD_DATA, `${what}: ${JSON.stringify(UNKNOWN_LABEL)} is the unknown answer's label, not a class name`);
  return label;
}

function checkPredictOptions(options: unknown): { topK: number; threshold: number | null | undefined } {
  if (options === null || typeof options !== 'object') badOption('predict options', options, 'an object');
  const { topK, threshold } = options as PredictOptions;
  if (topK !== undefined && (!Number.isSafeInteger(topK) || topK < 1)) badOption('topK', topK, 'a positive integer');
  if (threshold !== undefined && threshold !== null && (typeof threshold !== 'number' || !Number.isFinite(threshold))) badOption('threshold', threshold, 'a finite number or null');
  return { topK: topK ?? Infinity, threshold };
}

/** Sorted predictions from class scores (-Infinity: a class with nothing to score). */
function rank(labels: readonly string[], scores: Float64Array, temperature: number, threshold: number | null, topK: number): HeadPrediction[] {
  const entries: { label: string; score: number; order: number }[] = [];
  scores.forEach((score, i) => {
    if (score !== -Infinity) entries.push({ label: labels[i]!, score, order: i });
  });
  if (threshold !== null) entries.push({ label: UNKNOWN_LABEL, score: threshold, order: labels.length });
  let max = -Infinity;
  for (const e of entries) if (e.score > max) max = e.score;
  const weights = entries.map((e) => exp((e.score - max) / temperature));
  let sum = 0;
  for (const w of weights) sum += w;
  const out = entries.map((e, i) => ({ label: e.label, probability: weights[i]! / sum, score: e.score, order: e.order }));
  // Highest probability first; ties: the class's order, the unknown entry after the classes.
  out.sort((a, b) => b.probability - a.probability || a.order - b.order);
  return out.slice(0, Math.min(topK, out.length)).map(({ label, probability, score }) => ({ label, probability, score }));
}

abstract class HeadBase {
  readonly base: BaseModelIdentity;
  readonly seed: number;
  training: HeadTraining;
  threshold: number | null;
  protected readonly model: HeadBaseModel;
  protected readonly params: Record<string, string>;

  constructor(state: HeadState) {
    this.model = state.model;
    this.params = state.params;
    this.base = state.base;
    this.threshold = state.threshold;
    this.seed = state.seed;
    this.training = state.training;
  }

  get dim(): number {
    return this.base.dim;
  }

  abstract get labels(): readonly string[];
  protected abstract scores(x: Float32Array): Float64Array;
  protected abstract get temperatureForRanking(): number;
  /** Labels indexed as `scores` returns them (for kNN, classes with no examples left included). */
  protected abstract get scoreLabels(): readonly string[];

  async predict(input: ImageInput | EmbeddingInput, options: PredictOptions = {}): Promise<HeadPrediction[]> {
    checkPredictOptions(options);
    if (isEmbeddingInput(input)) return this.predictEmbedding(input, options);
    const { topK: _k, threshold: _t, ...call } = options;
    const embedding = await this.model.embed(input as ImageInput, { ...call, endpoint: this.base.endpoint });
    return this.predictEmbedding(embedding, options);
  }

  predictEmbedding(embedding: EmbeddingInput, options: Omit<PredictOptions, keyof CallOptions> = {}): HeadPrediction[] {
    const { topK, threshold } = checkPredictOptions(options);
    const x = normalizedEmbedding(embedding, this.base, 'embedding');
    return rank(this.scoreLabels, this.scores(x), this.temperatureForRanking, threshold === undefined ? this.threshold : threshold, topK);
  }
}

export class KnnHeadImpl extends HeadBase implements KnnHead {
  readonly method = 'knn' as const;
  readonly store: ExampleStore;
  /** Every class name seen, in order; a class whose examples were all removed stays here with count 0. */
  readonly classNames: string[] = [];
  readonly counts: number[] = [];
  private readonly classIndex = new Map<string, number>();

  constructor(
    state: HeadState,
    readonly k: number,
    public temperature: number,
  ) {
    super(state);
    this.store = new ExampleStore(state.base.dim);
  }

  get labels(): readonly string[] {
    return this.classNames.filter((_, i) => this.counts[i]! > 0);
  }

  get size(): number {
    return this.store.size;
  }

  protected get scoreLabels(): readonly string[] {
    return this.classNames;
  }

  protected get temperatureForRanking(): number {
    return this.temperature;
  }

  classOf(label: string): number {
    let cls = this.classIndex.get(label);
    if (cls === undefined) {
      cls = this.classNames.length;
      this.classNames.push(label);
      this.counts.push(0);
      this.classIndex.set(label, cls);
    }
    return cls;
  }

  /** Stores a row already normalised. */
  addNormalized(row: Float32Array, label: string): number {
    const cls = this.classOf(label);
    this.counts[cls]!++;
    return this.store.add(row, cls);
  }

  addEmbedding(embedding: EmbeddingInput, label: string): number {
    checkLabel(label, 'label');
    return this.addNormalized(normalizedEmbedding(embedding, this.base, 'embedding'), label);
  }

  async addExample(example: { image?: ImageInput; embedding?: EmbeddingInput; label: string }, options: CallOptions = {}): Promise<number> {
    if (example === null || typeof example !== 'object') fail(ErrorCodes.HEAD_DATA, `example: expected { image | embedding, label }, got ${describe(example)}`);
    checkLabel(example.label, 'example.label');
    if ((example.image === undefined) === (example.embedding === undefined)) fail(ErrorCodes.HEAD_DATA, 'example: expected exactly one of image and embedding');
    const embedding = example.embedding ?? (await this.model.embed(example.image!, { ...options, endpoint: this.base.endpoint }));
    return this.addEmbedding(embedding, example.label);
  }

  removeExample(id: number): boolean {
    const cls = this.store.classOfId(id);
    if (cls < 0) return false;
    this.counts[cls]!--;
    return this.store.remove(id);
  }

  removeClass(label: string): number {
    const ids = this.exampleIds(label);
    for (const id of ids) this.removeExample(id);
    return ids.length;
  }

  exampleIds(label?: string): number[] {
    const cls = label === undefined ? -1 : this.classIndex.get(label);
    if (cls === undefined) return [];
    const ids: number[] = [];
    for (let slot = 0; slot < this.store.size; slot++) if (cls < 0 || this.store.classOf(slot) === cls) ids.push(this.store.idOf(slot));
    return ids;
  }

  protected scores(x: Float32Array): Float64Array {
    if (this.labels.length === 0) fail(ErrorCodes.HEAD_DATA, 'predict: the head holds no examples (every class was removed)');
    return this.store.classScores(this.store.similarities(x), this.classNames.length, this.k);
  }

  save(): Uint8Array {
    // Classes with no examples left are dropped; the others keep their order.
    const kept = this.classNames.map((_, i) => i).filter((i) => this.counts[i]! > 0);
    const newIndex = new Map(kept.map((old, i) => [old, i]));
    const { rows, classes } = this.store.export();
    const classData = new Float32Array(classes.length);
    classes.forEach((c, i) => (classData[i] = newIndex.get(c)!));
    return encodeHeadFile({
      method: 'knn',
      labels: kept.map((i) => this.classNames[i]!),
      base: this.base,
      threshold: this.threshold,
      seed: this.seed,
      params: { ...this.params, k: String(this.k), temperature: String(this.temperature), examples: String(this.store.size) },
      tensors: new Map([
        ['embeddings', { shape: [this.store.size, this.dim], data: rows }],
        ['classes', { shape: [this.store.size], data: classData }],
      ]),
    });
  }
}

export class LinearHeadImpl extends HeadBase implements LinearHead {
  readonly method = 'linear' as const;
  constructor(
    state: HeadState,
    private readonly classLabels: readonly string[],
    readonly weight: Float32Array,
    readonly bias: Float32Array,
  ) {
    super(state);
  }

  get labels(): readonly string[] {
    return this.classLabels;
  }

  protected get scoreLabels(): readonly string[] {
    return this.classLabels;
  }

  protected get temperatureForRanking(): number {
    return 1;
  }

  protected scores(x: Float32Array): Float64Array {
    return linearLogits(this.weight, this.bias, x, this.classLabels.length, this.dim);
  }

  save(): Uint8Array {
    return encodeHeadFile({
      method: 'linear',
      labels: this.classLabels,
      base: this.base,
      threshold: this.threshold,
      seed: this.seed,
      params: { ...this.params, examples: String(this.training.examples) },
      tensors: new Map([
        ['weight', { shape: [this.classLabels.length, this.dim], data: this.weight }],
        ['bias', { shape: [this.classLabels.length], data: this.bias }],
      ]),
    });
  }
}

/** Mean negative log-likelihood of the true classes under softmax(scores / T) (deterministic log). */
export function meanNll(records: readonly { scores: Float64Array; truth: number }[], temperature: number): number {
  let total = 0;
  for (const { scores, truth } of records) {
    let max = -Infinity;
    for (const s of scores) if (s > max) max = s;
    let sum = 0;
    for (const s of scores) if (s !== -Infinity) sum += exp((s - max) / temperature);
    total += log(sum) - (scores[truth]! - max) / temperature;
  }
  return total / records.length;
}
