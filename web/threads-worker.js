/** A module Web Worker running web/threads-hash.js (the synchronous path: a worker may block). */
import { threadHashes } from './threads-hash.js';

self.onmessage = async (event) => {
  try {
    self.postMessage(await threadHashes(event.data));
  } catch (error) {
    self.postMessage({ error: `${error.code ?? error.name}: ${error.message}` });
  }
};
