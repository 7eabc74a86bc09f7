/**
 * The reference backend: walks the layer table with the plain-TypeScript kernels.
 * Deterministic to the bit on every JavaScript engine. With `precision: 'fast'`, the fast
 * tier's twin: the dense and pointwise convolutions with a correctly rounded fused
 * multiply-add (src/reference/fma.ts), the bits of the fast wasm kernels on a CPU with FMA.
 */
import type { Activations, InferenceBackend } from '../backend.js';
import type { Architecture, ConvLayer, Layer } from '../model/architecture.js';
import type { FoldedLayer } from '../model/fold.js';
import { avgPoolRef, conv2dRef, depthwiseConv2dRef, pointwiseConv2dRef, softmaxRef } from './kernels.js';

export class ReferenceBackend implements InferenceBackend {
  readonly name = 'reference' as const;
  constructor(
    private readonly arch: Architecture,
    private readonly folded: readonly FoldedLayer[],
    readonly precision: 'exact' | 'fast' = 'exact',
  ) {}
  /** The fused twin's multiply-adds round once. */
  get fusedMultiplyAdd(): boolean {
    return this.precision === 'fast';
  }
  run(input: Float32Array, batch: number, keep: ReadonlySet<string>): Activations {
    return runReference(this.arch, this.folded, input, batch, keep, this.precision === 'fast');
  }
  dispose(): void {}
}

/** `fused`: the fast tier's twin (fused multiply-adds in the dense and pointwise convolutions). */
export function runConvLayer(layer: ConvLayer, params: FoldedLayer, input: Float32Array, batch: number, fused = false): Float32Array {
  const [inH, inW, inC] = layer.inShape;
  const [outH, outW, outC] = layer.outShape;
  if (layer.kind === 'pointwise' || layer.kind === 'logits') {
    return pointwiseConv2dRef(input, params.filter, params.bias, batch * outH * outW, inC, outC, layer.activation, fused);
  }
  const geometry = {
    batch, inH, inW, inC, outH, outW, outC,
    kernelH: layer.kernel[0],
    kernelW: layer.kernel[1],
    stride: layer.stride,
    dilation: layer.dilation,
    padTop: layer.padding.top,
    padLeft: layer.padding.left,
    activation: layer.activation,
    fused,
  };
  return layer.kind === 'depthwise'
    ? depthwiseConv2dRef(input, params.filter, params.bias, geometry)
    : conv2dRef(input, params.filter, params.bias, geometry);
}

export function runLayerRef(layer: Layer, params: FoldedLayer | undefined, input: Float32Array, batch: number, fused = false): Float32Array {
  switch (layer.kind) {
    case 'avgpool': {
      const [inH, inW, channels] = layer.inShape;
      const [outH, outW] = layer.outShape;
      return avgPoolRef(input, { batch, inH, inW, channels, outH, outW, kernelH: layer.kernel[0], kernelW: layer.kernel[1], stride: layer.stride });
    }
    case 'softmax': {
      const [h, w, classes] = layer.outShape;
      return softmaxRef(input, batch * h * w, classes);
    }
    default:
      return runConvLayer(layer, params!, input, batch, fused);
  }
}

/**
 * Runs the network on `input` (NHWC, batch `batch`) and keeps the activations named in
 * `keep`; stops after the last layer anything asks for. `fused`: the fast tier's twin.
 */
export function runReference(
  arch: Architecture,
  folded: readonly FoldedLayer[],
  input: Float32Array,
  batch: number,
  keep: ReadonlySet<string>,
  fused = false,
): Activations {
  const byName = new Map(folded.map((f) => [f.layer.name, f]));
  const last = Math.max(...arch.layers.map((l, i) => (keep.has(l.name) ? i : -1)));
  const out: Activations = new Map();
  let x = input;
  for (let i = 0; i <= last; i++) {
    const layer = arch.layers[i]!;
    x = runLayerRef(layer, byName.get(layer.name), x, batch, fused);
    if (keep.has(layer.name)) out.set(layer.name, x);
  }
  return out;
}
