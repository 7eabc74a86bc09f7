/** The worker_threads entry (Node, Deno, Bun). */
import { parentPort } from 'node:worker_threads';
import { serve } from './serve.js';

const port = parentPort!;
serve({
  post: (message, transfer) => port.postMessage(message, transfer as never[]),
  onMessage: (handler) => port.on('message', handler),
});
