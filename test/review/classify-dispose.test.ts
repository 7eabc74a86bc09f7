// `mobilenet classify` must release the model (the wasm arena) on every way out, including an
// error raised after the model was built (an unwritable --out, a folder that cannot be walked).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/main.js';
import { writeSafetensors } from '../../src/formats/safetensors.js';
import { buildArchitecture, MobileNet, randomWeights } from '../../src/index.js';

describe('classify releases the model', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--out naming a folder: ERR_IO, exit 2, and the model is disposed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'review-classify-'));
    const options = { depthMultiplier: 0.25, inputSize: 32, numClasses: 3 };
    const weights = randomWeights(buildArchitecture(options), 1);
    const modelPath = join(dir, 'tiny.safetensors');
    writeFileSync(modelPath, writeSafetensors({ options, weights, pixelNormalization: 'unit-signed' }));
    const dispose = vi.spyOn(MobileNet.prototype, 'dispose');
    let stderr = '';
    const code = await run(['classify', dir, '--model', modelPath, '--backend', 'reference', '--out', dir], {
      stdout: () => {},
      stderr: (t) => void (stderr += t),
    });
    expect(stderr).toContain('ERR_IO');
    expect(code).toBe(2);
    expect(dispose).toHaveBeenCalledTimes(1);
  });
});
