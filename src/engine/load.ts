/**
 * `load()`: one call from a model file (or none: the model shipped in the package) to a model
 * ready to classify, in this thread or in a worker. What it does is in load-core.ts; this file
 * only chooses where it runs, so a worker's own bundle never reaches the code that spawns workers.
 */
import type { ModelSource } from '../formats/index.js';
import { checkLoadOptions, loadInThread, type LoadOptions } from './load-core.js';
import type { ImageModel, MobileNet } from './mobilenet.js';

export type { LoadOptions };

/** Loads a model and makes it ready: in this thread (a `MobileNet`), or in a worker with `{ worker: true }`. */
export function load(source?: ModelSource, options?: LoadOptions & { worker?: false }): Promise<MobileNet>;
export function load(source: ModelSource | undefined, options: LoadOptions & { worker: true }): Promise<ImageModel>;
export function load(source?: ModelSource, options?: LoadOptions): Promise<ImageModel>;
export async function load(source?: ModelSource, options: LoadOptions = {}): Promise<ImageModel> {
  checkLoadOptions(source, options);
  if (options.worker) {
    const { loadInWorker } = await import('./worker/host.js');
    return loadInWorker(source, options);
  }
  return loadInThread(source, options);
}

