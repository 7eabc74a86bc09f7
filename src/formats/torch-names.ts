/**
 * The seed's PyTorch MobileNet (`class MobileNet(nn.Module)`: `self.model = nn.Sequential(
 * conv_bn(3, 32, 2), conv_dw(32, 64, 1), ..., conv_dw(1024, 1024, 1), nn.AvgPool2d(7))`,
 * `self.fc = nn.Linear(1024, 1000)`) and its `state_dict()` names, mapped to TF-Slim names
 * and TF layouts. So `safetensors.torch.save_file(model.state_dict(), path)` runs here.
 *
 * | PyTorch name (state_dict)                    | PyTorch layout   | TF-Slim name                                        | TF layout        |
 * |----------------------------------------------|------------------|-----------------------------------------------------|------------------|
 * | model.0.0.weight                             | [32a, 3, 3, 3] OIHW | MobilenetV1/Conv2d_0/weights                      | [3, 3, 3, 32a] HWIO |
 * | model.0.1.weight / .bias                     | [32a]            | MobilenetV1/Conv2d_0/BatchNorm/gamma / beta         | [32a]            |
 * | model.0.1.running_mean / .running_var        | [32a]            | MobilenetV1/Conv2d_0/BatchNorm/moving_mean / moving_variance | [32a]   |
 * | model.0.1.num_batches_tracked                | [] int64         | (dropped: training state)                           |                  |
 * | model.k.0.weight (k = 1..13)                 | [C, 1, 3, 3]     | MobilenetV1/Conv2d_k_depthwise/depthwise_weights    | [3, 3, C, 1]     |
 * | model.k.1.{weight,bias,running_mean,running_var} | [C]          | MobilenetV1/Conv2d_k_depthwise/BatchNorm/{gamma,beta,moving_mean,moving_variance} | [C] |
 * | model.k.3.weight                             | [C', C, 1, 1]    | MobilenetV1/Conv2d_k_pointwise/weights              | [1, 1, C, C']    |
 * | model.k.4.{weight,bias,running_mean,running_var} | [C']         | MobilenetV1/Conv2d_k_pointwise/BatchNorm/...        | [C']             |
 * | fc.weight                                    | [K, C] (out, in) | MobilenetV1/Logits/Conv2d_1c_1x1/weights            | [1, 1, C, K]     |
 * | fc.bias                                      | [K]              | MobilenetV1/Logits/Conv2d_1c_1x1/biases             | [K]              |
 *
 * (model.k.2 and model.k.5 are the ReLUs, model.14 the AvgPool2d(7): no parameters.)
 * A `module.` prefix (nn.DataParallel) is accepted and dropped.
 *
 * The options are flavour 'torch' (symmetric padding, ReLU, BatchNorm eps 1e-5, AvgPool2d(7),
 * input 224) with alpha = (channels of model.13.3) / 1024 and K classes from fc.weight; the
 * rest of the shapes are then checked against the layer table by `checkWeights`.
 */
import { ErrorCodes, fail } from '../errors.js';
import { MOBILENET_V1_CONV_DEFS, type MobileNetOptions } from '../model/architecture.js';
import { formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';

const BN_FIELDS: Record<string, string> = {
  weight: 'gamma',
  bias: 'beta',
  running_mean: 'moving_mean',
  running_var: 'moving_variance',
};
const BN_FIELDS_BACK: Record<string, string> = Object.fromEntries(Object.entries(BN_FIELDS).map(([a, b]) => [b, a]));

const BLOCKS = MOBILENET_V1_CONV_DEFS.length; // 14: model.0 .. model.13
const TORCH_NAME = /^(?:module\.)?(?:model\.(\d+)\.(\d+)\.(weight|bias|running_mean|running_var|num_batches_tracked)|fc\.(weight|bias))$/;

/** A tensor as a file holds it, before any mapping: float data, or an integer tensor that only bookkeeping names may use. */
export interface SourceTensor {
  shape: number[];
  /** Float32 for float dtypes; null for integer dtypes (refused wherever a weight is expected). */
  data: Float32Array | null;
  dtype: string;
}

/** True when the names look like the seed's PyTorch state_dict (any `model.<i>.<j>.` or `fc.` parameter). */
export function isTorchStateDict(names: Iterable<string>): boolean {
  for (const n of names) if (TORCH_NAME.test(n)) return true;
  return false;
}

type Role = { kind: 'conv' | 'depthwise' | 'pointwise' | 'logits-weight'; scope: string } | { kind: 'bn'; scope: string; field: string } | { kind: 'logits-bias'; scope: string } | { kind: 'skip' };

const LOGITS = 'MobilenetV1/Logits/Conv2d_1c_1x1';

function roleOf(name: string): Role | null {
  const m = TORCH_NAME.exec(name);
  if (!m) return null;
  if (m[4] !== undefined) return m[4] === 'weight' ? { kind: 'logits-weight', scope: LOGITS } : { kind: 'logits-bias', scope: LOGITS };
  const block = Number(m[1]);
  const sub = Number(m[2]);
  const field = m[3]!;
  if (block >= BLOCKS) return null;
  if (block === 0) {
    const scope = 'MobilenetV1/Conv2d_0';
    if (sub === 0 && field === 'weight') return { kind: 'conv', scope };
    if (sub === 1) return field === 'num_batches_tracked' ? { kind: 'skip' } : { kind: 'bn', scope, field: BN_FIELDS[field]! };
    return null;
  }
  const dw = `MobilenetV1/Conv2d_${block}_depthwise`;
  const pw = `MobilenetV1/Conv2d_${block}_pointwise`;
  if (sub === 0 && field === 'weight') return { kind: 'depthwise', scope: dw };
  if (sub === 3 && field === 'weight') return { kind: 'pointwise', scope: pw };
  if (sub === 1 || sub === 4) {
    return field === 'num_batches_tracked' ? { kind: 'skip' } : { kind: 'bn', scope: sub === 1 ? dw : pw, field: BN_FIELDS[field]! };
  }
  return null;
}

/** [O, I, H, W] -> [H, W, I, O] */
export function oihwToHwio(data: Float32Array, [o, i, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o!; a++) {
    for (let b = 0; b < i!; b++) {
      for (let y = 0; y < h!; y++) {
        for (let x = 0; x < w!; x++) out[((y * w! + x) * i! + b) * o! + a] = data[((a * i! + b) * h! + y) * w! + x]!;
      }
    }
  }
  return out;
}

/** [H, W, I, O] -> [O, I, H, W] */
export function hwioToOihw(data: Float32Array, [h, w, i, o]: readonly number[]): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < o!; a++) {
    for (let b = 0; b < i!; b++) {
      for (let y = 0; y < h!; y++) {
        for (let x = 0; x < w!; x++) out[((a * i! + b) * h! + y) * w! + x] = data[((y * w! + x) * i! + b) * o! + a]!;
      }
    }
  }
  return out;
}

/** Row-major [R, C] -> [C, R]. */
function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

function expectRank(name: string, t: SourceTensor, rank: number, what: string): void {
  if (t.shape.length !== rank) fail(ErrorCodes.WEIGHT_SHAPE, `${name}: expected ${what}, got ${formatShape(t.shape)}`);
}

/**
 * Maps a PyTorch state_dict (seed names) to TF-Slim names and layouts, and derives the
 * options. Unknown names are refused (ERR_WEIGHT_UNEXPECTED), integer tensors where a weight
 * is expected too (ERR_DTYPE); shapes are checked later against the layer table.
 */
export function torchToSlim(tensors: ReadonlyMap<string, SourceTensor>): { weights: WeightMap; options: MobileNetOptions } {
  const weights: WeightMap = new Map();
  const unknown: string[] = [];
  for (const [name, t] of tensors) {
    const role = roleOf(name);
    if (!role) {
      unknown.push(name);
      continue;
    }
    if (role.kind === 'skip') continue;
    if (!t.data) fail(ErrorCodes.DTYPE, `tensor ${name}: dtype ${t.dtype} is not supported for a weight (expected a float dtype)`);
    let tf: NamedTensor;
    let target: string;
    switch (role.kind) {
      case 'conv':
        expectRank(name, t, 4, 'an OIHW convolution kernel [O, 3, kh, kw]');
        tf = { shape: [t.shape[2]!, t.shape[3]!, t.shape[1]!, t.shape[0]!], data: oihwToHwio(t.data, t.shape) };
        target = `${role.scope}/weights`;
        break;
      case 'pointwise':
        expectRank(name, t, 4, 'a pointwise kernel [O, I, 1, 1]');
        tf = { shape: [t.shape[2]!, t.shape[3]!, t.shape[1]!, t.shape[0]!], data: oihwToHwio(t.data, t.shape) };
        target = `${role.scope}/weights`;
        break;
      case 'depthwise':
        // [C, 1, kh, kw] -> [kh, kw, C, 1]: the OIHW transpose gives [kh, kw, 1, C], the same bytes.
        expectRank(name, t, 4, 'a depthwise kernel [C, 1, kh, kw]');
        if (t.shape[1] !== 1) fail(ErrorCodes.WEIGHT_SHAPE, `${name}: expected a depthwise kernel [C, 1, kh, kw], got ${formatShape(t.shape)}`);
        tf = { shape: [t.shape[2]!, t.shape[3]!, t.shape[0]!, 1], data: oihwToHwio(t.data, t.shape) };
        target = `${role.scope}/depthwise_weights`;
        break;
      case 'logits-weight':
        expectRank(name, t, 2, 'an nn.Linear weight [K, C]');
        tf = { shape: [1, 1, t.shape[1]!, t.shape[0]!], data: transpose2d(t.data, t.shape[0]!, t.shape[1]!) };
        target = `${role.scope}/weights`;
        break;
      case 'logits-bias':
        tf = { shape: [...t.shape], data: t.data };
        target = `${role.scope}/biases`;
        break;
      case 'bn':
        tf = { shape: [...t.shape], data: t.data };
        target = `${role.scope}/BatchNorm/${role.field}`;
        break;
    }
    if (weights.has(target)) fail(ErrorCodes.DUPLICATE_TENSOR, `tensor ${name}: ${target} is given twice (with and without the module. prefix?)`);
    weights.set(target, tf);
  }
  if (unknown.length > 0) {
    fail(
      ErrorCodes.WEIGHT_UNEXPECTED,
      `unexpected PyTorch tensor${unknown.length > 1 ? 's' : ''} ${unknown.slice(0, 8).join(', ')}${unknown.length > 8 ? ', ...' : ''}; ` +
        'expected model.<0..13>.<0|1|3|4>.(weight|bias|running_mean|running_var|num_batches_tracked), fc.weight, fc.bias',
    );
  }
  // Alpha from the last pointwise layer, which min_depth never clamps; classes from fc.
  const last = weights.get(`MobilenetV1/Conv2d_${BLOCKS - 1}_pointwise/weights`);
  const fc = weights.get(`${LOGITS}/weights`);
  const options: MobileNetOptions = { flavour: 'torch', inputSize: 224 };
  if (last && last.shape[3]! > 0) options.depthMultiplier = last.shape[3]! / MOBILENET_V1_CONV_DEFS[BLOCKS - 1]!.depth;
  if (fc && fc.shape[3]! > 0) options.numClasses = fc.shape[3]!;
  return { weights, options };
}

/**
 * The reverse: TF-Slim weights (BatchNorm not folded) to the seed's state_dict names and
 * PyTorch layouts, with `num_batches_tracked` omitted. Used to write PyTorch-named files.
 */
export function slimToTorch(weights: WeightMap): Map<string, NamedTensor> {
  const out = new Map<string, NamedTensor>();
  for (const [name, t] of weights) {
    let m: RegExpExecArray | null;
    if (name === `${LOGITS}/weights`) {
      const [, , c, k] = t.shape;
      out.set('fc.weight', { shape: [k!, c!], data: transpose2d(t.data, c!, k!) });
    } else if (name === `${LOGITS}/biases`) {
      out.set('fc.bias', { shape: [...t.shape], data: t.data });
    } else if ((m = /^MobilenetV1\/Conv2d_(\d+)(?:_(depthwise|pointwise))?\/(weights|depthwise_weights|BatchNorm\/(\w+))$/.exec(name))) {
      const block = Number(m[1]);
      const part = m[2];
      const sub = part === 'pointwise' ? 3 : 0;
      if (m[4] !== undefined) {
        const field = BN_FIELDS_BACK[m[4]];
        if (!field) fail(ErrorCodes.WEIGHT_UNEXPECTED, `${name}: no PyTorch BatchNorm field for ${m[4]}`);
        out.set(`model.${block}.${sub + 1}.${field}`, { shape: [...t.shape], data: t.data });
      } else {
        const [h, w, i, o] = t.shape;
        const shape = part === 'depthwise' ? [i!, 1, h!, w!] : [o!, i!, h!, w!];
        out.set(`model.${block}.${sub}.weight`, { shape, data: hwioToOihw(t.data, t.shape) });
      }
    } else {
      fail(ErrorCodes.WEIGHT_UNEXPECTED, `${name}: has no PyTorch name (folded biases cannot be written as the seed's BatchNorm)`);
    }
  }
  return out;
}
