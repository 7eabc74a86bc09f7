/**
 * Starting a model's worker in a browser: a module Web Worker (package import `#spawn-worker`).
 * Written as `new Worker(new URL(..., import.meta.url), { type: 'module' })` so that Vite and
 * webpack find the worker's entry and bundle it.
 */
import { ErrorCodes, fail } from '../errors.js';
import type { WorkerPort } from './types.js';

export async function spawnModelWorker(): Promise<WorkerPort> {
  if (typeof Worker !== 'function') fail(ErrorCodes.OPTION, 'option worker: this runtime has no Web Workers; load the model without { worker: true }');
  const worker = new Worker(new URL('../engine/worker/entry-web.js', import.meta.url), { type: 'module' });
  let failed = false;
  let ended = false;
  const failures: ((reason: string) => void)[] = [];
  const onFail = (reason: string) => {
    if (failed || ended) return;
    failed = true;
    failures.forEach((f) => f(reason));
  };
  worker.addEventListener('error', (e) => {
    e.preventDefault();
    onFail(e.message || 'it could not start or threw (see the console)');
  });
  worker.addEventListener('messageerror', () => onFail('a message could not be read'));
  return {
    post: (message, transfer) => worker.postMessage(message, { transfer }),
    onMessage: (handler) => worker.addEventListener('message', (e) => handler(e.data)),
    onFailure: (handler) => failures.push(handler),
    setIdle: () => {},
    terminate: () => {
      ended = true;
      worker.terminate();
    },
  };
}
