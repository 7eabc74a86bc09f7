/** Starting a model's worker in Node, Deno and Bun: a worker_threads Worker (package import `#spawn-worker`). */
import { Worker } from 'node:worker_threads';
import type { WorkerPort } from './types.js';

export async function spawnModelWorker(): Promise<WorkerPort> {
  // A worker inherits the process's Node options; --input-type (a script given by -e or stdin) makes it refuse its entry file.
  // V8's wasm flags (Node 20's --experimental-wasm-relaxed-simd) are process-wide: a Worker refuses them, and has them anyway.
  const execArgv = process.execArgv.filter((arg) => !arg.startsWith('--input-type') && !arg.startsWith('--experimental-wasm-'));
  const worker = new Worker(new URL('../engine/worker/entry-node.js', import.meta.url), { execArgv });
  let failed = false;
  let ended = false;
  const failures: ((reason: string) => void)[] = [];
  const fail = (reason: string) => {
    if (failed || ended) return;
    failed = true;
    failures.forEach((f) => f(reason));
  };
  worker.on('error', (e) => fail(e?.message ?? String(e)));
  worker.on('messageerror', (e) => fail(`a message could not be read (${e?.message ?? e})`));
  worker.on('exit', (code) => fail(`it exited with code ${code}`));
  return {
    post: (message, transfer) => worker.postMessage(message, transfer as never[]),
    onMessage: (handler) => worker.on('message', handler),
    onFailure: (handler) => failures.push(handler),
    setIdle: (idle) => (idle ? worker.unref() : worker.ref()),
    terminate: () => {
      ended = true;
      void worker.terminate();
    },
  };
}
