/**
 * Where `classify` gets its images from, with --jobs and --decoder:
 *
 * - `--jobs 1 --decoder js`: no feed. The model reads each batch itself (`classifyBatch` on the
 *   paths), one image after the other in the main thread: the path before --jobs existed.
 * - `--jobs 1 --decoder wasm`, and `--jobs 1 --head`: the files are prepared one after the other
 *   in the main thread, when their batch is due (src/pool/prepare.ts).
 * - `--jobs N` (N >= 2): a pool of N decode workers (src/pool/decode-pool.ts) prepares the files
 *   ahead of the model, in order, while the main thread runs the model on the batch before. At
 *   most batch + min(batch, 64) + N files are asked for ahead of the one the run is at, so memory
 *   stays flat whatever the number of files (each answer is the model-size RGB: 150 kB at 224 x
 *   224). Never more workers than files: one file is read in the main thread, as with --jobs 1.
 *
 * Each answer is the image's model-size uint8 RGB, produced by the same functions the model runs
 * on a path, or its error (prepare.ts).
 */
import { loadWasmDecoders, type WasmDecoders } from '../image/wasm-decode.js';
import { DecodePool } from '../pool/decode-pool.js';
import { prepareFile, type DecoderName, type Prepared } from '../pool/prepare.js';

export interface ImageFeed {
  /** Starts on `files` (the readable entries, in the order of the output) at the model's input size. */
  begin(files: readonly string[], height: number, width: number): void;
  /** The answers for the next `count` files, in order. */
  next(count: number): Promise<Prepared[]>;
  /** Stops: workers end, whatever was asked for ahead is dropped. */
  close(): void;
}

export interface FeedOptions {
  jobs: number;
  decoder: DecoderName;
  batch: number;
  /** The caller needs prepared pixels even with --jobs 1 --decoder js (--head). */
  prepared?: boolean;
}

/**
 * The feed for these options and `files` readable files; null for today's path (the model reads
 * the files itself). No more workers than files: a single image is read in this thread.
 */
export async function openFeed(options: FeedOptions, files: number): Promise<ImageFeed | null> {
  const jobs = Math.min(options.jobs, files);
  if (jobs <= 1) {
    if (options.decoder === 'wasm') return new InThreadFeed(await loadWasmDecoders());
    return options.prepared ? new InThreadFeed(null) : null;
  }
  // The batch being run, the next one (at most 64 files of it), and a file or two per worker.
  return new PoolFeed(await DecodePool.start({ jobs, decoder: options.decoder }), options.batch + Math.min(options.batch, 64) + jobs);
}

class InThreadFeed implements ImageFeed {
  private files: readonly string[] = [];
  private at = 0;
  private size: [number, number] = [0, 0];
  /** `wasm`: the wasm decoders, or null for the JS ones. */
  constructor(private readonly wasm: WasmDecoders | null) {}
  begin(files: readonly string[], height: number, width: number): void {
    this.files = files;
    this.size = [height, width];
  }
  async next(count: number): Promise<Prepared[]> {
    const out: Prepared[] = [];
    for (let i = 0; i < count && this.at < this.files.length; i++) out.push(await prepareFile(this.files[this.at++]!, this.size[0], this.size[1], this.wasm));
    return out;
  }
  close(): void {}
}

class PoolFeed implements ImageFeed {
  private files: readonly string[] = [];
  private asked = 0;
  private size: [number, number] = [0, 0];
  /** Answers asked for and not taken yet, in file order. */
  private readonly ahead: Promise<Prepared>[] = [];
  constructor(
    private readonly pool: DecodePool,
    private readonly window: number,
  ) {}
  begin(files: readonly string[], height: number, width: number): void {
    this.files = files;
    this.size = [height, width];
    this.fill();
  }
  next(count: number): Promise<Prepared[]> {
    const taken: Promise<Prepared>[] = [];
    while (taken.length < count) {
      this.fill();
      if (this.ahead.length === 0) break;
      taken.push(...this.ahead.splice(0, count - taken.length));
    }
    // Asked for before the caller waits: the workers go on with the next batch while this one runs.
    this.fill();
    return Promise.all(taken);
  }
  close(): void {
    this.pool.close();
  }
  private fill(): void {
    while (this.ahead.length < this.window && this.asked < this.files.length) this.ahead.push(this.pool.prepare(this.files[this.asked++]!, this.size[0], this.size[1]));
  }
}
