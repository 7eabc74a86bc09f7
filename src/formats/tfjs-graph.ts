/**
 * The float32 TF.js graph model (`model.json` + binary shards), as the TF-Hub MobileNet v1
 * classifiers ship it (see shared/models/PROVENANCE.md, section 1).
 *
 * model.json holds the graph (`modelTopology.node`: ops, inputs and attrs) and a
 * `weightsManifest` of float32 and int32 tensors, read by tfjs-manifest.ts.
 *
 * The graph is read, not trusted: we walk it from the input placeholder and accept only the
 * MobileNet v1 chain (optional `x*m - s` input scaling, 27 convolutions with bias and ReLU6,
 * a global Mean, the 1x1 logits convolution with bias, Squeeze), padding SAME, dilation 1,
 * NHWC, strides matching the layer table. The convolutions' constant inputs give each
 * tensor its role, so the weights are renamed by role to TF-Slim names, then checked
 * against the layer table with `checkWeights` (strict).
 *
 * Validation order, failing on the first error: JSON, manifest (dtype, quantization, shape,
 * duplicates), shards (count, HTML pages, byte totals), graph, names and shapes, finiteness.
 */
import { ErrorCodes, badOption, describe, fail } from '../errors.js';
import type { URLLike } from '../dom-types.js';
import { checkFetchOptions, type FetchOptions } from '../fetch.js';
import {
  buildArchitecture,
  convLayers,
  type Architecture,
  type MobileNetOptions,
} from '../model/architecture.js';
import { checkWeights, formatShape, type NamedTensor, type WeightMap } from '../model/weights.js';
import { BODY_CONVS, alphaByAgreement, chainMismatch } from './layer-table.js';
import { GRAPH_MODEL, isObject, readTfjsModelFiles, readWeights, type Obj, type RawTensor } from './tfjs-manifest.js';

export interface TfjsGraphOptions {
  depthMultiplier: number;
  inputSize: number | [number, number];
  numClasses: number;
  /** Only set when TF-Slim's AvgPool_1a would not cover the whole last feature map (inputs above ~224): the graph's Mean is a global pool. */
  globalPool?: true;
}

export interface TfjsGraphModel {
  /** Options for `buildArchitecture`, derived from the graph and the weight shapes. */
  options: TfjsGraphOptions;
  weights: WeightMap;
  /** The pixel range the graph's input expects; the graph maps it to [-1, 1] itself. */
  inputRange: readonly [number, number];
  format: 'tfjs-graph';
}

/** `fetch`, `signal`, `onProgress`, `timeouts` and `redirects` for URLs (see FetchOptions). */
export type LoadTfjsGraphOptions = FetchOptions;

const GRAPH = GRAPH_MODEL;

/** Parses a model from model.json (text or parsed) and its shards, in manifest order. */
export function parseTfjsGraphModel(modelJson: string | object, shards: Uint8Array[]): TfjsGraphModel {
  const { json, tensors } = readWeights(modelJson, shards, GRAPH);
  return readGraph(json, tensors);
}

/**
 * Loads from a directory or a model.json path (Node, Deno, Bun), or from a URL: `file:` reads
 * the file system, `http(s):` fetches model.json and the shards beside it.
 */
export async function loadTfjsGraphModel(source: string | URLLike, options: LoadTfjsGraphOptions = {}): Promise<TfjsGraphModel> {
  if (!(source instanceof URL) && (typeof source !== 'string' || source === '')) badOption('source', source, 'a directory or model.json path, or a URL');
  checkFetchOptions(options);
  const { json, shards } = await readTfjsModelFiles(source, options, GRAPH);
  return parseTfjsGraphModel(json, shards);
}

// ---------------------------------------------------------------------------------------------
// The graph

interface GraphNode {
  name: string;
  op: string;
  /** Data inputs with `:0` dropped; control inputs (`^name`) are ignored. */
  inputs: string[];
  attr: Obj;
}

interface ConvStep {
  kind: 'conv';
  node: string;
  depthwise: boolean;
  stride: number;
  weight: string;
  bias: string;
  relu6: boolean;
}
type Step = ConvStep | { kind: 'mean' } | { kind: 'squeeze' };

/** op -> [depthwise, fused with its bias (and maybe ReLU6)] */
const CONV_OPS: Record<string, [boolean, boolean]> = {
  Conv2D: [false, false],
  _FusedConv2D: [false, true],
  DepthwiseConv2dNative: [true, false],
  FusedDepthwiseConv2dNative: [true, true],
};

const bad = (message: string): never => fail(ErrorCodes.MANIFEST, `graph is not a MobileNet v1: ${message}`);

function readNodes(json: Obj): GraphNode[] {
  const topo = json.modelTopology;
  if (!isObject(topo) || !Array.isArray(topo.node) || topo.node.length === 0) {
    fail(ErrorCodes.MANIFEST, 'modelTopology.node: expected a non-empty list of graph nodes');
  }
  return topo.node.map((raw: unknown, i): GraphNode => {
    if (!isObject(raw) || typeof raw.name !== 'string' || typeof raw.op !== 'string') {
      fail(ErrorCodes.MANIFEST, `modelTopology.node[${i}]: expected {name, op, input?, attr?}`);
    }
    const input = raw.input ?? [];
    const attr = raw.attr ?? {};
    if (!Array.isArray(input) || !input.every((s) => typeof s === 'string') || !isObject(attr)) {
      fail(ErrorCodes.MANIFEST, `node ${raw.name}: input must be a list of names and attr an object`);
    }
    const inputs = (input as string[])
      .filter((s) => !s.startsWith('^'))
      .map((s) => {
        const colon = s.lastIndexOf(':');
        if (colon < 0) return s;
        if (s.slice(colon + 1) !== '0') bad(`node ${raw.name} reads output ${s}; only single-output nodes are expected`);
        return s.slice(0, colon);
      });
    return { name: raw.name, op: raw.op, inputs, attr };
  });
}

/** The nodes by name, and who reads each. */
interface Graph {
  nodes: GraphNode[];
  byName: Map<string, GraphNode>;
  consumers: Map<string, GraphNode[]>;
}

function readGraph(json: Obj, tensors: Map<string, RawTensor>): TfjsGraphModel {
  const graph = indexGraph(readNodes(json));
  const input = theInput(graph);
  const reader = new ChainReader(graph, input);
  const { start, inputRange } = readInputScaling(reader, input, tensors);
  const steps = readSteps(reader, start, tensors);
  checkAllOnChain(graph, reader.visited, input);
  const { body, logits } = splitChain(steps);
  checkAllConstantsRead(tensors, reader.usedConsts);
  const { options, arch } = graphArchitecture(input, body, logits, tensors);
  const weights = mapWeights(body, logits, arch, tensors);
  checkWeights(arch, weights, { strict: true });
  return { options, weights, inputRange, format: 'tfjs-graph' };
}

function indexGraph(nodes: GraphNode[]): Graph {
  const byName = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const n of nodes) {
    if (byName.has(n.name)) fail(ErrorCodes.MANIFEST, `modelTopology: node ${n.name} is defined twice`);
    byName.set(n.name, n);
  }
  for (const n of nodes) {
    for (const input of n.inputs) {
      if (!byName.has(input)) bad(`node ${n.name} reads ${input}, which is not in the graph`);
      const list = consumers.get(input);
      if (list) list.push(n);
      else consumers.set(input, [n]);
    }
  }
  return { nodes, byName, consumers };
}

function theInput(graph: Graph): GraphNode {
  const placeholders = graph.nodes.filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) bad(`expected one Placeholder input, found ${placeholders.length}`);
  return placeholders[0]!;
}

/** Reads the one chain from the input: every node it steps to is visited, every constant input it reads is used. */
class ChainReader {
  readonly visited: Set<string>;
  readonly usedConsts = new Set<string>();

  constructor(
    private readonly graph: Graph,
    input: GraphNode,
  ) {
    this.visited = new Set([input.name]);
  }

  consumers(n: GraphNode): GraphNode[] {
    return this.graph.consumers.get(n.name) ?? [];
  }

  /** The single node reading `from`, which must take it as its first input. */
  next(from: GraphNode): GraphNode {
    const cs = this.consumers(from);
    if (cs.length !== 1) bad(`${from.name} feeds ${cs.length} nodes; expected a single chain`);
    const n = cs[0]!;
    if (n.inputs[0] !== from.name || this.visited.has(n.name)) bad(`${n.name} does not continue the chain from ${from.name}`);
    this.visited.add(n.name);
    return n;
  }

  /** The name of the constant at input `i` of `n`, which must have `count` inputs. */
  constInput(n: GraphNode, i: number, count: number): string {
    if (n.inputs.length !== count) bad(`${n.name} (${n.op}) has ${n.inputs.length} inputs, expected ${count}`);
    const c = this.graph.byName.get(n.inputs[i]!)!;
    if (c.op !== 'Const') bad(`input ${i} of ${n.name} is ${c.name} (${c.op}), expected a constant`);
    this.usedConsts.add(c.name);
    return c.name;
  }
}

/** Optional input scaling x*m - s (the TF-Hub graphs take [0, 1] and compute x*2 - 1): where the body starts and the pixel range. */
function readInputScaling(reader: ChainReader, input: GraphNode, tensors: Map<string, RawTensor>): { start: GraphNode; inputRange: readonly [number, number] } {
  if (reader.consumers(input)[0]?.op !== 'Mul') return { start: input, inputRange: [-1, 1] };
  const mul = reader.next(input);
  const m = scalar(tensors, reader.constInput(mul, 1, 2));
  const sub = reader.next(mul);
  if (sub.op !== 'Sub') bad(`${mul.name} is followed by ${sub.op}, expected Sub`);
  const s = scalar(tensors, reader.constInput(sub, 1, 2));
  if (!(m > 0) || !Number.isFinite(m) || !Number.isFinite(s)) bad(`input scaling x*${m} - ${s} does not map a pixel range to [-1, 1]`);
  return { start: sub, inputRange: [(s - 1) / m, (s + 1) / m] };
}

/** Every step of the chain after `start` to its end. */
function readSteps(reader: ChainReader, start: GraphNode, tensors: Map<string, RawTensor>): Step[] {
  const steps: Step[] = [];
  let cur = start;
  while (reader.consumers(cur).length > 0) {
    const { step, last } = readStep(reader, reader.next(cur), tensors);
    steps.push(step);
    cur = last;
  }
  return steps;
}

/** One step starting at node `n`, and the last node it takes (a convolution takes its BiasAdd and Relu6 too). */
function readStep(reader: ChainReader, n: GraphNode, tensors: Map<string, RawTensor>): { step: Step; last: GraphNode } {
  const conv = CONV_OPS[n.op];
  if (conv) return readConvStep(reader, n, conv[0], conv[1]);
  if (n.op === 'Mean') {
    const axes = tensors.get(reader.constInput(n, 1, 2));
    if (!axes || axes.dtype !== 'int32' || axes.data.join() !== '1,2' || attr(n, 'keep_dims')?.b !== true) {
      bad(`${n.name} must be a Mean over axes [1, 2] with keep_dims (a global average pool)`);
    }
    return { step: { kind: 'mean' }, last: n };
  }
  if (n.op === 'Squeeze') {
    if (n.inputs.length !== 1 || (attrInts(n, 'squeeze_dims') ?? []).join() !== '1,2') bad(`${n.name} must squeeze axes [1, 2]`);
    return { step: { kind: 'squeeze' }, last: n };
  }
  return bad(`unexpected op ${n.op} at ${n.name}`);
}

/** A convolution, its bias (fused, or the BiasAdd after it) and its ReLU6 (fused, or the Relu6 after it). */
function readConvStep(reader: ChainReader, n: GraphNode, depthwise: boolean, fused: boolean): { step: ConvStep; last: GraphNode } {
  checkConvAttrs(n);
  const weight = reader.constInput(n, 1, fused ? 3 : 2);
  let bias: string;
  let relu6 = false;
  let last = n;
  if (fused) {
    bias = reader.constInput(n, 2, 3);
    const ops = attrStrings(n, 'fused_ops') ?? [];
    relu6 = ops.length === 2 && ops[1] === 'Relu6';
    if (ops[0] !== 'BiasAdd' || ops.length !== (relu6 ? 2 : 1)) bad(`${n.name} fuses ${describe(ops)}; expected BiasAdd or BiasAdd, Relu6`);
  } else {
    const add = reader.next(n);
    if (add.op !== 'BiasAdd') bad(`${n.name} is followed by ${add.op}, expected BiasAdd`);
    checkDataFormat(add);
    bias = reader.constInput(add, 1, 2);
    last = add;
  }
  const after = reader.consumers(last);
  if (!relu6 && after.length === 1 && after[0]!.op === 'Relu6') {
    last = reader.next(last);
    if (last.inputs.length !== 1) bad(`${last.name} (Relu6) has ${last.inputs.length} inputs`);
    relu6 = true;
  }
  return { step: { kind: 'conv', node: n.name, depthwise, stride: attrInts(n, 'strides')![1]!, weight, bias, relu6 }, last };
}

function checkAllOnChain(graph: Graph, visited: ReadonlySet<string>, input: GraphNode): void {
  for (const n of graph.nodes) {
    if (n.op !== 'Const' && !visited.has(n.name)) bad(`node ${n.name} (${n.op}) is not on the chain from ${input.name}`);
  }
}

/** The chain must read: 27 convolutions with ReLU6 in the table's order, Mean, the logits convolution, Squeeze. */
function splitChain(steps: Step[]): { body: ConvStep[]; logits: ConvStep } {
  const convs = steps.filter((s): s is ConvStep => s.kind === 'conv');
  const shape = steps.map((s) => (s.kind === 'conv' ? (s.relu6 ? 'conv+relu6' : 'conv') : s.kind));
  const wanted = [...Array<string>(BODY_CONVS).fill('conv+relu6'), 'mean', 'conv', 'squeeze'];
  const meanAt = steps.findIndex((s) => s.kind === 'mean');
  const beforePool = (meanAt < 0 ? steps : steps.slice(0, meanAt)).filter((s): s is ConvStep => s.kind === 'conv');
  const mismatch = chainMismatch(beforePool.map((s) => ({ name: s.node, depthwise: s.depthwise })));
  if (shape.join() !== wanted.join()) {
    bad(`expected ${BODY_CONVS} convolutions with ReLU6, Mean, the logits convolution and Squeeze; found ${compress(shape)}${mismatch ? `: ${mismatch}` : ''}`);
  }
  if (mismatch) bad(mismatch);
  return { body: convs.slice(0, BODY_CONVS), logits: convs[BODY_CONVS]! };
}

function checkAllConstantsRead(tensors: Map<string, RawTensor>, used: ReadonlySet<string>): void {
  for (const [name, t] of tensors) {
    if (!used.has(name)) {
      fail(ErrorCodes.WEIGHT_UNEXPECTED, `tensor ${name} (${formatShape(t.shape)}) is in weightsManifest but no graph node reads it`);
    }
  }
}

/** Options from the input and the weights, and the architecture; the graph's global Mean is TF-Slim's AvgPool_1a only when its window covers the whole map. */
function graphArchitecture(input: GraphNode, body: ConvStep[], logits: ConvStep, tensors: Map<string, RawTensor>): { options: TfjsGraphOptions; arch: Architecture } {
  const options = deriveOptions(input, body, logits, tensors);
  const arch = architecture(options);
  const pool = arch.layers.find((l) => l.kind === 'avgpool');
  if (pool && pool.kind === 'avgpool' && (pool.kernel[0] !== pool.inShape[0] || pool.kernel[1] !== pool.inShape[1])) {
    const global: TfjsGraphOptions = { ...options, globalPool: true };
    return { options: global, arch: architecture(global) };
  }
  return { options, arch };
}

/** Each step against its table layer (kind and stride), its constants renamed to TF-Slim names. */
function mapWeights(body: ConvStep[], logits: ConvStep, arch: Architecture, tensors: Map<string, RawTensor>): WeightMap {
  const weights: WeightMap = new Map();
  const layers = convLayers(arch);
  [...body, logits].forEach((step, i) => {
    const layer = layers[i]!;
    if (step.depthwise !== (layer.kind === 'depthwise') || step.stride !== layer.stride) {
      bad(`${step.node} is a ${step.depthwise ? 'depthwise' : 'full'} convolution with stride ${step.stride}; ` +
        `${layer.name} is a ${layer.kind} convolution with stride ${layer.stride}`);
    }
    addWeight(weights, `${layer.scope}/${step.depthwise ? 'depthwise_weights' : 'weights'}`, step.weight, tensors);
    addWeight(weights, `${layer.scope}/biases`, step.bias, tensors);
  });
  return weights;
}

function deriveOptions(input: GraphNode, body: ConvStep[], logits: ConvStep, tensors: Map<string, RawTensor>): TfjsGraphOptions {
  const dims = attr(input, 'shape')?.shape;
  const dim = isObject(dims) && Array.isArray(dims.dim) ? dims.dim.map((d: unknown) => toInt(isObject(d) ? d.size : undefined)) : [];
  const [, h, w, c] = dim;
  if (dim.length !== 4 || c !== 3 || !(h! > 0) || !(w! > 0)) {
    bad(`input ${input.name} has shape ${describe(dim)}; expected [N, H, W, 3] with a fixed H and W`);
  }
  // Alpha from the full convolutions' output channels, by agreement (see alphaByAgreement).
  const channels = body.filter((s) => !s.depthwise).map((s) => {
    const t = tensors.get(s.weight);
    return t && t.shape.length === 4 ? t.shape[3] : undefined;
  });
  const depthMultiplier = alphaByAgreement(channels) ?? 1;
  const lt = tensors.get(logits.weight);
  const numClasses = lt && lt.shape.length === 4 && lt.shape[3]! > 0 ? lt.shape[3]! : 1001;
  return { depthMultiplier, inputSize: h === w ? h! : [h!, w!], numClasses };
}

function architecture(options: TfjsGraphOptions): Architecture {
  try {
    return buildArchitecture(options as MobileNetOptions);
  } catch (e) {
    return bad(`the weights describe no buildable MobileNet v1 (${(e as Error).message})`);
  }
}

function addWeight(weights: WeightMap, name: string, source: string, tensors: Map<string, RawTensor>): void {
  const t = tensors.get(source);
  if (!t) return; // reported by checkWeights as missing, with the layer's expected names
  if (t.dtype !== 'float32') fail(ErrorCodes.DTYPE, `tensor ${source} (${name}): expected float32, got ${t.dtype}`);
  const tensor: NamedTensor = { shape: [...t.shape], data: t.data as Float32Array };
  weights.set(name, tensor);
}

function scalar(tensors: Map<string, RawTensor>, name: string): number {
  const t = tensors.get(name);
  if (!t || t.dtype !== 'float32' || t.data.length !== 1) bad(`${name} should be a float32 scalar in weightsManifest`);
  return t!.data[0]!;
}

function checkConvAttrs(n: GraphNode): void {
  const strides = attrInts(n, 'strides');
  const dilations = attrInts(n, 'dilations') ?? [1, 1, 1, 1];
  if (attrString(n, 'padding') !== 'SAME') bad(`${n.name}: padding ${describe(attrString(n, 'padding'))}, expected "SAME"`);
  if (!strides || strides.length !== 4 || strides[0] !== 1 || strides[3] !== 1 || strides[1] !== strides[2] || !(strides[1]! >= 1)) {
    bad(`${n.name}: strides ${describe(strides)}, expected [1, s, s, 1]`);
  }
  if (dilations.length !== 4 || dilations.some((d) => d !== 1)) bad(`${n.name}: dilations ${describe(dilations)}, expected all 1`);
  checkDataFormat(n);
}

function checkDataFormat(n: GraphNode): void {
  const format = attrString(n, 'data_format') ?? 'NHWC';
  if (format !== 'NHWC') bad(`${n.name}: data_format ${describe(format)}, expected "NHWC"`);
}

/** `['conv+relu6', 'conv+relu6', 'mean']` -> `conv+relu6 x2, mean` */
function compress(items: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < items.length; ) {
    let j = i;
    while (j < items.length && items[j] === items[i]) j++;
    out.push(j - i > 1 ? `${items[i]} x${j - i}` : items[i]!);
    i = j;
  }
  return out.join(', ') || 'nothing';
}

// TF AttrValue in JSON: {s: base64}, {i: "int64"}, {b: bool}, {list: {i: [...], s: [...]}}, {shape: {dim: [{size}]}}.
function attr(n: GraphNode, key: string): Obj | undefined {
  const a = n.attr[key];
  if (a === undefined) return undefined;
  if (!isObject(a)) bad(`${n.name}: attr ${key} is ${describe(a)}`);
  return a as Obj;
}

function attrString(n: GraphNode, key: string): string | undefined {
  const s = attr(n, key)?.s;
  return s === undefined ? undefined : base64(n, key, s);
}

function attrStrings(n: GraphNode, key: string): string[] | undefined {
  const list = attrList(n, key, 's');
  return list?.map((s) => base64(n, key, s));
}

function attrInts(n: GraphNode, key: string): number[] | undefined {
  const list = attrList(n, key, 'i');
  return list?.map((v) => toInt(v) ?? bad(`${n.name}: attr ${key} holds ${describe(v)}, not an integer`));
}

function attrList(n: GraphNode, key: string, field: 'i' | 's'): unknown[] | undefined {
  const a = attr(n, key);
  if (a === undefined) return undefined;
  const list = isObject(a.list) ? (a.list[field] ?? []) : undefined;
  if (!Array.isArray(list)) bad(`${n.name}: attr ${key} is not a list`);
  return list as unknown[];
}

function base64(n: GraphNode, key: string, s: unknown): string {
  try {
    if (typeof s !== 'string') throw new TypeError('not a string');
    return atob(s);
  } catch {
    return bad(`${n.name}: attr ${key} holds ${describe(s)}, not a base64 string`);
  }
}

/** int64 values arrive as strings ("224") or numbers. */
function toInt(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) ? n : undefined;
}
