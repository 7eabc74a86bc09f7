// `mobilenet classify` must release the model (the wasm arena) on every way out, including an
// error raised after the model was built (an --out that fails when the first result is written).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/main.js';
import { encode } from 'fast-png';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { buildArchitecture, MobileNet, randomWeights } from '../../src/index.js';

describe('classify releases the model', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--out on a full disk (/dev/full): ERR_IO, exit 2, and the model is disposed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'classify-dispose-'));
    const options = { depthMultiplier: 0.25, inputSize: 32, numClasses: 3 };
    const weights = randomWeights(buildArchitecture(options), 1);
    const modelPath = join(dir, 'tiny.safetensors');
    writeFileSync(modelPath, writeSafetensors({ options, weights, pixelNormalization: 'unit-signed' }));
    writeFileSync(join(dir, 'grey.png'), encode({ width: 4, height: 4, data: new Uint8Array(4 * 4 * 3).fill(128), channels: 3, depth: 8 }));
    const dispose = vi.spyOn(MobileNet.prototype, 'dispose');
    let stderr = '';
    const code = await run(['classify', dir, '--model', modelPath, '--backend', 'reference', '--out', '/dev/full'], {
      stdout: () => {},
      stderr: (t) => void (stderr += t),
    });
    expect(stderr).toContain('ERR_IO');
    expect(code).toBe(2);
    expect(dispose).toHaveBeenCalledTimes(1);
  });
});
