/**
 * Kernels that trap are refused with a code, never a RuntimeError from inside: a module whose
 * every kernel is `unreachable` fails the load-time self-test with ERR_KERNEL, and a trap while a
 * model runs (a backend whose kernels fail) is ERR_KERNEL from `run` and `classify`.
 */
import { describe, expect, it } from 'vitest';
import type { InferenceBackend } from '../../src/backend.js';
import { ErrorCodes } from '../../src/errors.js';
import { createModel } from '../../src/engine/create.js';
import { MobileNet } from '../../src/engine/mobilenet.js';
import { KERNEL_NAMES } from '../../src/wasm/kernels.js';
import { compileKernels } from '../../src/wasm/loader.js';
import { Tensor } from '../../src/tensor.js';

/** A wasm module importing env.memory and exporting every kernel name as `() => unreachable`, byte by byte. */
function trappingKernels(): Uint8Array<ArrayBuffer> {
  const text = new TextEncoder();
  const vec = (items: number[][]) => [...leb(items.length), ...items.flat()];
  const str = (s: string) => [...leb(s.length), ...text.encode(s)];
  const section = (id: number, body: number[]) => [id, ...leb(body.length), ...body];
  const names = [...KERNEL_NAMES];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, 0x00, 0x00]])), // one type: () -> ()
    ...section(2, vec([[...str('env'), ...str('memory'), 0x02, 0x00, 0x01]])), // import memory, min 1 page
    ...section(3, vec(names.map(() => [0x00]))), // every function of type 0
    ...section(7, vec(names.map((n, i) => [...str(n), 0x00, ...leb(i)]))), // export each
    ...section(10, vec(names.map(() => [0x03, 0x00, 0x00, 0x0b]))), // body: no locals, unreachable, end
  ];
  return Uint8Array.from(bytes);
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

describe('kernels that trap', () => {
  it('fail the self-test with ERR_KERNEL naming the kernel, from compileKernels and from createModel', async () => {
    const bytes = trappingKernels();
    expect(WebAssembly.validate(bytes)).toBe(true);
    await expect(compileKernels(bytes)).rejects.toMatchObject({ name: 'MobilenetError', code: ErrorCodes.KERNEL, message: expect.stringMatching(/f32_gemm_4x8_minmax trapped in the self-test.*unreachable/) });
    await expect(createModel({ depthMultiplier: 0.25, inputSize: 32, wasm: { source: bytes } })).rejects.toMatchObject({ code: ErrorCodes.KERNEL });
  });

  it('a trap while running is ERR_KERNEL from run and from classify', async () => {
    const reference = await createModel({ depthMultiplier: 0.25, inputSize: 32, backend: 'reference', seed: 3 });
    const trapping: InferenceBackend = {
      name: 'wasm',
      run: () => {
        throw new WebAssembly.RuntimeError('unreachable');
      },
      dispose: () => {},
    };
    const model = new MobileNet(reference.architecture, reference.folded, trapping, null);
    const x = new Tensor(new Float32Array(32 * 32 * 3), [1, 32, 32, 3]);
    expect(() => model.run(x)).toThrow(expect.objectContaining({ code: ErrorCodes.KERNEL, message: expect.stringMatching(/kernels failed while running: unreachable/) }));
    await expect(model.classify(x)).rejects.toMatchObject({ code: ErrorCodes.KERNEL });
  });
});
