/**
 * The same bits with threads: runs MobileNet v1 with seeded weights on a seeded input with
 * threads: 1 and threads: N, through the asynchronous `embed` (the path a browser's main thread
 * must take), and returns the SHA-256 of several end points (little-endian float32 bytes) for
 * each, with the thread count each model reports. Plain ESM importing the package's dist/, so
 * the one file runs unchanged in Node, Deno and Bun, and bundled by esbuild in Chromium (a
 * page, and a Web Worker); test/threads/runtimes.test.ts compares the hashes.
 */

const ENDPOINTS = ['Conv2d_0', 'Conv2d_1_depthwise', 'Conv2d_7_pointwise', 'Conv2d_13_depthwise', 'AvgPool_1a', 'Logits', 'Predictions'];

async function sha256(bytes) {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function littleEndian(data) {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return out;
}

/**
 * @param {{ threads?: number, alpha?: number, size?: number, batch?: number }} [options]
 * @returns {Promise<{ threads: number[], hashes: Record<string, string>[], syncRun: string }>}
 */
export async function threadHashes({ threads = 2, alpha = 0.5, size = 160, batch = 1 } = {}) {
  const { createModel, mulberry32, Tensor } = await import('../dist/index.js');
  const next = mulberry32(31);
  const input = new Tensor(new Float32Array(batch * size * size * 3).map(() => (next() / 2 ** 32) * 2 - 1), [batch, size, size, 3]);
  const result = { threads: [], hashes: [], syncRun: 'ok' };
  for (const t of [1, threads]) {
    const model = await createModel({ depthMultiplier: alpha, inputSize: size, seed: 1, threads: t });
    try {
      result.threads.push(model.threads);
      const hashes = {};
      for (const endpoint of ENDPOINTS) hashes[endpoint] = await sha256(littleEndian(await model.embed(input, { endpoint })));
      result.hashes.push(hashes);
      if (t > 1) {
        try {
          model.predict(input);
        } catch (error) {
          result.syncRun = error.code ?? error.name;
        }
      }
    } finally {
      model.dispose();
    }
  }
  return result;
}
