/**
 * The same bits everywhere: runs MobileNet v1 alpha 0.25 at 128x128 with seeded weights
 * (seed 1) on a seeded input, on the reference path and on the wasm SIMD path, and returns the
 * SHA-256 of each path's logits (little-endian float32 bytes). Plain ESM importing the
 * package's dist/ (and build/kernels.wasm, found beside the package), so the one file runs
 * unchanged in Node, Deno and Bun, and bundled by esbuild (web/server.mjs) in Chromium; the
 * tests compare the hashes.
 */

/** Lowercase hex SHA-256 with Web Crypto (global in browsers, Node >= 19, Deno, Bun). */
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
 * @param {{ kernels?: Uint8Array | ArrayBuffer | URL | WebAssembly.Module }} [options] where the
 *   wasm kernels come from (default: build/kernels.wasm beside dist/, by URL)
 */
export async function logitsHashes(options = {}) {
  const { createModel, mulberry32, Tensor, setKernelSource, hasWasmSimd } = await import('../dist/index.js');
  setKernelSource(options.kernels);
  const next = mulberry32(2024);
  const input = new Tensor(new Float32Array(128 * 128 * 3).map(() => (next() / 2 ** 32) * 2 - 1), [1, 128, 128, 3]);
  const result = { simd: hasWasmSimd() };
  for (const backend of ['reference', 'wasm']) {
    const model = await createModel({ depthMultiplier: 0.25, inputSize: 128, seed: 1, backend });
    try {
      const logits = model.predict(input);
      result[backend] = await sha256(littleEndian(logits.data));
      if (backend === 'reference') result.top1 = logits.data.indexOf(Math.max(...logits.data));
    } finally {
      model.dispose();
    }
  }
  return result;
}
