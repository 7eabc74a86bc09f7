/** The Web Worker entry (browsers; a module worker). */
import { serve } from './serve.js';

const scope = globalThis as unknown as {
  postMessage(message: unknown, options: { transfer: Transferable[] }): void;
  addEventListener(type: 'message', handler: (event: { data: unknown }) => void): void;
};
serve({
  post: (message, transfer) => scope.postMessage(message, { transfer }),
  onMessage: (handler) => scope.addEventListener('message', (event) => handler(event.data)),
});
