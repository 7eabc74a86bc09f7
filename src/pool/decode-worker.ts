/**
 * A decode worker (worker_threads): runs the files it is given one at a time, in order, and answers with the model-size uint8
 * RGB (its buffer transferred, not copied) or the file's error. See decode-pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { prepareFile } from './prepare.js';
import type { FromWorker, Task, WorkerSetup } from './protocol.js';

const setup = workerData as WorkerSetup;
const port = parentPort!;
// No top-level await (the package's files are also require()d): the decoders load in a promise the tasks wait for.
const decoders = setup.decoder === 'wasm' ? import('../image/wasm-decode.js').then((m) => m.loadWasmDecoders(setup.wasmFiles ?? undefined)) : Promise.resolve(null);

const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function run(task: Task): Promise<void> {
  const result = await prepareFile(task.file, task.height, task.width, await decoders);
  if (!result.ok) return post({ type: 'done', id: task.id, result });
  // A buffer of its own, so that transferring it hands over exactly these bytes.
  const rgb = result.rgb.byteOffset === 0 && result.rgb.byteLength === result.rgb.buffer.byteLength ? result.rgb : result.rgb.slice();
  post({ type: 'done', id: task.id, result: { ...result, rgb } }, [rgb.buffer as ArrayBuffer]);
}

// One file at a time, in the order given (the pool blames a crash on the first file it has not answered).
let chain = Promise.resolve();
port.on('message', (task: Task) => {
  chain = chain.then(() => run(task));
});
// Ready once the decoders are: a failure to load them ends this worker, and the pool reports it.
void decoders.then(() => post({ type: 'ready' }));
