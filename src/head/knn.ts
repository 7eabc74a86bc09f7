/**
 * The kNN head's memory and its scores.
 *
 * Memory: L2-normalised embeddings (float32) in chunks of 1024 rows (fewer for long embeddings),
 * with the class of each row beside it. Adding an example writes one row (a new chunk when the
 * last one is full); removing one moves the last row into its place: nothing else is copied,
 * whatever the size. 10,000 examples of 512 values are 20 MB, in 10 chunks. Each chunk computes
 * its similarities in WebAssembly SIMD where it can (simd.ts), the same bits as in JavaScript.
 *
 * Scores: the cosine similarity of the query with every stored row (a dot product of unit
 * vectors, float64 sums in a fixed order); a class's score is the mean similarity of its k nearest
 * rows (fewer when the class has fewer). Taking the k nearest of every class, not the k nearest
 * overall, gives every class a score (so confidences are never just 0, 1/3, 2/3, 1) and keeps a
 * class with many examples from out-voting one with few. Probabilities are the softmax of the
 * scores divided by a temperature (see head.ts for how it is chosen).
 */
import { makeChunk, type Chunk } from './simd.js';

/** Rows per chunk: 1024, fewer for long embeddings (a chunk holds at most 4M values, 16 MB). */
export function chunkRows(dim: number): number {
  return Math.max(1, Math.min(1024, Math.floor(4_194_304 / dim)));
}

export class ExampleStore {
  private readonly chunks: Chunk[] = [];
  private readonly classChunks: Int32Array[] = [];
  /** Example id of each slot. */
  private readonly ids: number[] = [];
  private readonly slots = new Map<number, number>();
  private nextId = 1;
  size = 0;

  readonly rowsPerChunk: number;

  constructor(readonly dim: number) {
    this.rowsPerChunk = chunkRows(dim);
  }

  /** Stores a normalised row; returns its id. */
  add(row: Float32Array, cls: number): number {
    const slot = this.size;
    const [c, r] = this.at(slot);
    if (c === this.chunks.length) {
      this.chunks.push(makeChunk(this.rowsPerChunk, this.dim));
      this.classChunks.push(new Int32Array(this.rowsPerChunk));
    }
    this.chunks[c]!.data.set(row, r * this.dim);
    this.classChunks[c]![r] = cls;
    const id = this.nextId++;
    this.ids.push(id);
    this.slots.set(id, slot);
    this.size++;
    return id;
  }

  /** Removes one example by id (the last row moves into its slot); false when there is none. */
  remove(id: number): boolean {
    const slot = this.slots.get(id);
    if (slot === undefined) return false;
    const last = this.size - 1;
    if (slot !== last) {
      const [lc, lr] = this.at(last);
      const [c, r] = this.at(slot);
      this.chunks[c]!.data.set(this.chunks[lc]!.data.subarray(lr * this.dim, (lr + 1) * this.dim), r * this.dim);
      this.classChunks[c]![r] = this.classChunks[lc]![lr]!;
      const movedId = this.ids[last]!;
      this.ids[slot] = movedId;
      this.slots.set(movedId, slot);
    }
    this.ids.pop();
    this.slots.delete(id);
    this.size--;
    // A chunk left empty is dropped; one spare chunk would only be reallocated on the next add.
    if (this.chunks.length > 0 && this.size <= (this.chunks.length - 1) * this.rowsPerChunk) {
      this.chunks.pop();
      this.classChunks.pop();
    }
    return true;
  }

  has(id: number): boolean {
    return this.slots.has(id);
  }

  /** The class of an example by id, or -1. */
  classOfId(id: number): number {
    const slot = this.slots.get(id);
    return slot === undefined ? -1 : this.classOf(slot);
  }

  classOf(slot: number): number {
    const [c, r] = this.at(slot);
    return this.classChunks[c]![r]!;
  }

  idOf(slot: number): number {
    return this.ids[slot]!;
  }

  /** The chunk and row of a slot. */
  at(slot: number): [number, number] {
    const c = Math.floor(slot / this.rowsPerChunk);
    return [c, slot - c * this.rowsPerChunk];
  }

  /** A copy of one stored row. */
  row(slot: number): Float32Array {
    const [c, r] = this.at(slot);
    return this.chunks[c]!.data.slice(r * this.dim, (r + 1) * this.dim);
  }

  /** Every row's similarity with `query` (a unit vector), slot by slot. */
  similarities(query: Float32Array, out: Float64Array = new Float64Array(this.size)): Float64Array {
    for (let c = 0, slot = 0; c < this.chunks.length; c++) {
      const rows = Math.min(this.rowsPerChunk, this.size - slot);
      this.chunks[c]!.similarities(query, rows, out, slot);
      slot += rows;
    }
    return out;
  }

  /**
   * Each class's score: the mean of its k largest similarities (over its rows that `keep`
   * accepts); -Infinity for a class with none. Ties keep the earlier slot.
   */
  classScores(sims: Float64Array, classes: number, k: number, keep?: (slot: number) => boolean): Float64Array {
    const top = new Float64Array(classes * k);
    const filled = new Int32Array(classes);
    for (let c = 0, slot = 0; c < this.chunks.length; c++) {
      const labels = this.classChunks[c]!;
      const rows = Math.min(this.rowsPerChunk, this.size - slot);
      for (let r = 0; r < rows; r++, slot++) {
        if (keep && !keep(slot)) continue;
        const cls = labels[r]!;
        const s = sims[slot]!;
        const base = cls * k;
        let n = filled[cls]!;
        if (n === k) {
          if (!(s > top[base + k - 1]!)) continue;
          n = k - 1;
        } else {
          filled[cls] = n + 1;
        }
        // Insertion into the sorted (descending) list of this class.
        let i = n;
        while (i > 0 && s > top[base + i - 1]!) {
          top[base + i] = top[base + i - 1]!;
          i--;
        }
        top[base + i] = s;
      }
    }
    const scores = new Float64Array(classes);
    for (let cls = 0; cls < classes; cls++) {
      const n = filled[cls]!;
      if (n === 0) {
        scores[cls] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let i = 0; i < n; i++) sum += top[cls * k + i]!;
      scores[cls] = sum / n;
    }
    return scores;
  }

  /** Every row, in slot order, as one [size, dim] array, with the classes. */
  export(): { rows: Float32Array; classes: Int32Array } {
    const rows = new Float32Array(this.size * this.dim);
    const classes = new Int32Array(this.size);
    for (let slot = 0; slot < this.size; slot++) {
      const [c, r] = this.at(slot);
      rows.set(this.chunks[c]!.data.subarray(r * this.dim, (r + 1) * this.dim), slot * this.dim);
      classes[slot] = this.classChunks[c]![r]!;
    }
    return { rows, classes };
  }
}
