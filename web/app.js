/**
 * The demo page: pick a model (TF.js model.json + shards, .safetensors or .tflite) and a photo,
 * see the top-5 classes, the backend in use and the time of every layer. Everything runs in
 * the page from the package's dist/ and build/kernels.wasm; nothing is fetched from elsewhere.
 *
 * The image path follows src/image/pipeline.ts (centre crop, TF's half-pixel bilinear resize
 * to the model's size, round to uint8, then the model's pixel normalisation) with the browser
 * decoding the file (createImageBitmap, no colour-space conversion) instead of pngjs/jpeg-js.
 */
import { buildArchitecture, createModel, hasWasmSimd, normalizePixels, parseLabels, parseTfjsGraphModel, centerCropSquare, resizeBilinear } from '../dist/index.js';
import { createWasmBackend } from '../dist/wasm/backend.js';
import { runLayerRef } from '../dist/reference/backend.js';
import { readSafetensorsModel } from '../dist/formats/safetensors.js';
import { readTfliteModel } from '../dist/formats/tflite.js';
import { parseTfjsLayersModel } from '../dist/formats/tfjs-layers.js';

const $ = (id) => document.getElementById(id);
const state = { loaded: null, labels: null, model: null, rgb: null, modelName: '' };

function status(text, error = false) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

function describeError(e) {
  return e && e.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
}

const bytesOf = async (file) => new Uint8Array(await file.arrayBuffer());

/** Turns the chosen files into a LoadedModel-like {options, weights, pixelNormalization, labels}. */
async function loadModelFiles(files) {
  const byName = new Map(files.map((f) => [f.name, f]));
  const labelsFile = files.find((f) => /\.txt$/i.test(f.name));
  const labels = labelsFile ? parseLabels(await labelsFile.text()) : null;
  const json = files.find((f) => /\.json$/i.test(f.name));
  if (json) {
    const text = await json.text();
    const parsed = JSON.parse(text);
    const paths = (parsed.weightsManifest ?? []).flatMap((g) => g.paths ?? []);
    const missing = paths.filter((p) => !byName.has(p.split('/').pop()));
    if (missing.length > 0) throw new Error(`${json.name} needs its shard files: select ${missing.join(', ')} together with it`);
    const shards = await Promise.all(paths.map((p) => bytesOf(byName.get(p.split('/').pop()))));
    const layers = parsed.format === 'layers-model' || (parsed.format === undefined && parsed.modelTopology && ('model_config' in parsed.modelTopology || 'class_name' in parsed.modelTopology));
    if (layers) return { ...parseTfjsLayersModel(text, shards), labels, name: `${json.name} (TF.js layers model)` };
    const graph = parseTfjsGraphModel(text, shards);
    return { options: graph.options, weights: graph.weights, pixelNormalization: 'unit-signed', labels, name: `${json.name} (TF.js graph model)` };
  }
  const file = files.find((f) => /\.(safetensors|tflite)$/i.test(f.name)) ?? files.find((f) => f !== labelsFile);
  if (!file) throw new Error('no model file among the chosen files (expected model.json + shards, .safetensors or .tflite)');
  const bytes = await bytesOf(file);
  // By content, as loadModelFile does: the TFLite identifier at bytes 4..8, else safetensors.
  const isTflite = bytes[4] === 0x54 && bytes[5] === 0x46 && bytes[6] === 0x4c && bytes[7] === 0x33;
  const loaded = isTflite ? readTfliteModel(bytes) : readSafetensorsModel(bytes);
  return { ...loaded, labels: loaded.labels ?? labels, name: `${file.name} (${loaded.format})` };
}

async function buildModel() {
  state.model?.dispose();
  state.model = null;
  if (!state.loaded) return;
  const { options, weights, labels } = state.loaded;
  const backend = $('backend').value;
  const classes = buildArchitecture(options).options.numClasses;
  const useLabels = labels && labels.length === classes ? labels : undefined;
  state.model = await createModel({ ...options, weights, backend, labels: useLabels });
  if (labels && !useLabels) status(`labels ignored: ${labels.length} lines for ${classes} classes`);
}

/** Decodes a photo to RGB bytes, as stored (no colour management, alpha dropped). */
async function decodePhoto(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' });
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width: bitmap.width, height: bitmap.height, data: rgb };
}


function drawPreview(pixels, size) {
  const canvas = $('preview');
  const ctx = canvas.getContext('2d');
  const img = new ImageData(size, size);
  for (let i = 0, j = 0; j < pixels.length; i += 4, j += 3) {
    img.data[i] = pixels[j];
    img.data[i + 1] = pixels[j + 1];
    img.data[i + 2] = pixels[j + 2];
    img.data[i + 3] = 255;
  }
  const tmp = new OffscreenCanvas(size, size);
  tmp.getContext('2d').putImageData(img, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

function showTop5(top) {
  const list = $('top5');
  list.replaceChildren();
  const max = top[0]?.probability || 1;
  for (const t of top) {
    const li = document.createElement('li');
    const name = document.createElement('div');
    name.className = 'name';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = t.label ?? `class ${t.index}`;
    const pct = document.createElement('span');
    pct.textContent = `${(t.probability * 100).toFixed(1)}%`;
    name.append(label, pct);
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    fill.style.width = `${Math.max(1, (t.probability / max) * 100).toFixed(1)}%`;
    bar.append(fill);
    li.append(name, bar);
    list.append(li);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Per-layer times. On the wasm backend, each layer's kernels alone (WasmBackend.layerRunner);
 * on the reference path, the layers run one after the other on the real input.
 */
async function layerTimes(model, input) {
  const arch = model.architecture;
  const times = [];
  if (model.backend === 'wasm') {
    const backend = await createWasmBackend(arch, model.folded);
    try {
      arch.layers.forEach((layer, i) => {
        if (layer.kind === 'softmax') return times.push({ name: layer.name, ms: 0 });
        const run = backend.layerRunner(i, 1);
        // Browsers coarsen performance.now() (to 0.1 ms without cross-origin isolation):
        // time enough calls to span a few milliseconds, per sample.
        let reps = 1;
        for (let t0 = performance.now(); performance.now() - t0 < 2 && reps < 1 << 16; reps *= 2) for (let r = 0; r < reps; r++) run();
        const samples = [];
        for (let s = 0; s < 5; s++) {
          const t0 = performance.now();
          for (let r = 0; r < reps; r++) run();
          samples.push((performance.now() - t0) / reps);
        }
        times.push({ name: layer.name, ms: median(samples) });
      });
    } finally {
      backend.dispose();
    }
    return { how: 'wasm SIMD kernels, each layer alone (median of 5 timed loops)', times };
  }
  const folded = new Map(model.folded.map((f) => [f.layer.name, f]));
  let x = input.data;
  for (const layer of arch.layers) {
    const t0 = performance.now();
    x = runLayerRef(layer, folded.get(layer.name), x, 1);
    times.push({ name: layer.name, ms: performance.now() - t0 });
  }
  return { how: 'reference path, layer by layer', times };
}

function showLayers({ how, times }) {
  const root = $('layers');
  root.replaceChildren();
  const h = document.createElement('h2');
  const total = times.reduce((a, t) => a + t.ms, 0);
  h.textContent = `Time per layer: ${how}, total ${total.toFixed(2)} ms`;
  root.append(h);
  const max = Math.max(...times.map((t) => t.ms), 1e-6);
  for (const t of times) {
    const row = document.createElement('div');
    row.className = 'layer';
    const name = document.createElement('span');
    name.className = 'lname';
    name.textContent = t.name;
    const track = document.createElement('div');
    const bar = document.createElement('div');
    bar.className = 'lbar';
    bar.style.width = `${((t.ms / max) * 100).toFixed(1)}%`;
    track.append(bar);
    const ms = document.createElement('span');
    ms.className = 'ms';
    ms.textContent = `${t.ms.toFixed(3)} ms`;
    row.append(name, track, ms);
    root.append(row);
  }
}

async function classify() {
  if (!state.model || !state.rgb) return;
  const model = state.model;
  const [height, width] = model.architecture.inputShape;
  const square = centerCropSquare(state.rgb);
  const pixels = resizeBilinear(square.data, square.width, square.height, width, height);
  drawPreview(height === width ? pixels : resizeBilinear(square.data, square.width, square.height, 224, 224), height === width ? width : 224);
  // The model's own normalisation, the one the package defines (square models: the demo's inputs).
  const input = normalizePixels([pixels], width, state.loaded.pixelNormalization);
  status(`running on ${model.backend}...`);
  const t0 = performance.now();
  const top = await model.classify(input, 5);
  const ms = performance.now() - t0;
  showTop5(top);
  const o = model.architecture.options;
  $('facts').innerHTML = '';
  const facts = [
    ['backend', model.backend === 'wasm' ? 'wasm (WebAssembly SIMD)' : 'reference (plain TypeScript)'],
    ['model', state.modelName],
    ['architecture', `alpha ${o.depthMultiplier}, ${o.inputHeight}x${o.inputWidth}, ${o.numClasses} classes`],
    ['inference', `${ms.toFixed(1)} ms`],
  ];
  for (const [k, v] of facts) {
    const line = document.createElement('div');
    const b = document.createElement('b');
    b.textContent = `${k}: `;
    line.append(b, v);
    if (k === 'backend') line.id = 'backend-in-use';
    $('facts').append(line);
  }
  showLayers(await layerTimes(model, input));
  status(`top-1: ${top[0].label ?? `class ${top[0].index}`} (${(top[0].probability * 100).toFixed(1)}%) on ${model.backend}`);
  document.body.dataset.state = 'done';
}

async function guarded(step) {
  document.body.dataset.state = 'busy';
  try {
    await step();
  } catch (e) {
    console.error(e);
    status(describeError(e), true);
  } finally {
    if (document.body.dataset.state === 'busy') document.body.dataset.state = 'idle';
  }
}

$('model-files').addEventListener('change', (ev) => guarded(async () => {
  const files = [...ev.target.files];
  if (files.length === 0) return;
  status('loading the model...');
  state.loaded = await loadModelFiles(files);
  state.modelName = state.loaded.name;
  await buildModel();
  status(`model ready: ${state.modelName}`);
  await classify();
}));

async function takePhoto(file) {
  status(`decoding ${file.name}...`);
  state.rgb = await decodePhoto(file);
  if (!state.model) status(`photo ready (${state.rgb.width}x${state.rgb.height}); now choose a model`);
  await classify();
}

$('photo').addEventListener('change', (ev) => guarded(() => (ev.target.files[0] ? takePhoto(ev.target.files[0]) : undefined)));
const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const file = ev.dataTransfer?.files?.[0];
  if (file) guarded(() => takePhoto(file));
});
$('backend').addEventListener('change', () => guarded(async () => {
  await buildModel();
  await classify();
}));

if (!hasWasmSimd()) {
  $('backend').value = 'reference';
  $('backend').querySelector('option[value=wasm]').disabled = true;
  status('This browser has no WebAssembly SIMD: using the reference path.');
}
document.body.dataset.state = 'idle';
