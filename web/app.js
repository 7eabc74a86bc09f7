/**
 * The demo page: the model in the package (load(), no file needed) or one you pick (TF.js
 * model.json + shards, .safetensors or .tflite), a photo, the top-5 classes, the backend in use
 * and the time of every layer; and "Teach it": your own classes from the camera or files, a kNN
 * or linear head trained in the page (src/head/), predicting for the photo and live for the
 * camera, saved and loaded as a .safetensors file. Everything runs in the page from the
 * package's dist/, build/kernels.wasm and assets/; nothing is fetched from elsewhere.
 *
 * The image path follows src/image/pipeline.ts (centre crop, TF's half-pixel bilinear resize
 * to the model's size, round to uint8, then the model's pixel normalisation) with the browser
 * decoding the file (createImageBitmap, no colour-space conversion) instead of pngjs/jpeg-js.
 */
import {
  buildArchitecture, createModel, hasWasmSimd, load, loadHead, normalizePixels, parseLabels, parseTfjsGraphModel, centerCropSquare, resizeBilinear, trainHead, UNKNOWN_LABEL,
} from '../dist/index.js';
import { createWasmBackend } from '../dist/wasm/backend.js';
import { runLayerRef } from '../dist/reference/backend.js';
import { readSafetensorsModel } from '../dist/formats/safetensors.js';
import { readTfliteModel } from '../dist/formats/tflite.js';
import { parseTfjsLayersModel } from '../dist/formats/tfjs-layers.js';

const $ = (id) => document.getElementById(id);
const state = { loaded: null, labels: null, model: null, rgb: null, modelName: '', input: null };
const DEFAULT_MODEL_NAME = 'MobileNet v1 0.5 @ 160, uint8 TFLite (the model in the package)';

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

/** The chosen files' model, or the one in the package (load()), on the chosen backend. */
async function buildModel() {
  state.model?.dispose();
  state.model = null;
  const backend = $('backend').value;
  if (!state.loaded) {
    state.model = await load(undefined, { backend });
    state.modelName = DEFAULT_MODEL_NAME;
  } else {
    const { options, weights, labels, pixelNormalization } = state.loaded;
    const classes = buildArchitecture(options).options.numClasses;
    const useLabels = labels && labels.length === classes ? labels : undefined;
    state.model = await createModel({ ...options, weights, backend, labels: useLabels, normalization: pixelNormalization });
    state.modelName = state.loaded.name;
    if (labels && !useLabels) status(`labels ignored: ${labels.length} lines for ${classes} classes`);
  }
  await rebindHead();
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
  const input = normalizePixels([pixels], width, model.normalization);
  state.input = input;
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
  await predictPhoto();
  document.body.dataset.state = 'done';
}

/**
 * Every step that uses the model runs in turn (a backend switched while a model loads waits for
 * it); `data-state` is busy while any is pending, then idle (or done, when a step classified).
 */
let queue = Promise.resolve();
let pending = 0;
function guarded(step, onError = (e) => status(describeError(e), true)) {
  pending++;
  document.body.dataset.state = 'busy';
  queue = queue.then(async () => {
    try {
      await step();
    } catch (e) {
      console.error(e);
      onError(e);
    } finally {
      pending--;
      if (pending === 0 && document.body.dataset.state === 'busy') document.body.dataset.state = 'idle';
    }
  });
  return queue;
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
  if (!state.model) status(`photo ready (${state.rgb.width}x${state.rgb.height}); the model is not ready`);
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

// ---------------------------------------------------------------------------------------------
// Teach it: examples from the camera or files, a head trained on the model's embeddings.

const teach = { examples: [], nextId: 1, head: null, stream: null, live: false, liveMs: null };

function teachStatus(text, error = false) {
  $('teach-status').textContent = text;
  $('teach-status').className = error ? 'error' : '';
}

function setTeach(value) {
  document.body.dataset.teach = value;
}

function className() {
  const name = $('class-name').value.trim();
  if (!name) throw new Error('give the class a name first');
  if (name === UNKNOWN_LABEL) throw new Error(`${UNKNOWN_LABEL} is the head's answer when unsure; choose another name`);
  return name;
}

function showClasses() {
  const list = $('classes');
  list.replaceChildren();
  const counts = new Map();
  for (const e of teach.examples) counts.set(e.label, (counts.get(e.label) ?? 0) + 1);
  for (const [label, n] of counts) {
    const li = document.createElement('li');
    li.dataset.label = label;
    const name = document.createElement('span');
    name.className = 'label';
    name.textContent = label;
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = `${n} example${n === 1 ? '' : 's'}`;
    const remove = document.createElement('button');
    remove.textContent = 'remove';
    remove.title = `forget the examples of ${label}`;
    remove.addEventListener('click', () => removeClass(label));
    li.append(name, count, remove);
    list.append(li);
  }
  $('train').disabled = counts.size < 2;
  $('head-save').disabled = !teach.head;
}

/** Stores new examples; a kNN head learns them at once (it keeps examples), a linear head at the next training. */
async function addExamples(images, label) {
  for (const image of images) {
    const example = { id: teach.nextId++, image, label, embedding: null, embeddedBy: null };
    teach.examples.push(example);
    if (teach.head?.method === 'knn') await teach.head.addExample({ embedding: await embeddingOf(example), label });
  }
  showClasses();
  const n = teach.examples.length;
  const hint = teach.head?.method === 'knn' ? 'the kNN head has them already' : teach.head ? 'train again to include them' : 'add another class, then train';
  teachStatus(`${images.length} example${images.length === 1 ? '' : 's'} of "${label}" added (${n} in all); ${hint}`);
  await predictPhoto();
}

function removeClass(label) {
  teach.examples = teach.examples.filter((e) => e.label !== label);
  if (teach.head?.method === 'knn') teach.head.removeClass(label);
  showClasses();
  teachStatus(`"${label}" forgotten${teach.head?.method === 'linear' ? '; train again to drop it from the linear head' : ''}`);
  guarded(predictPhoto);
}

/** An example's embedding by the current model, computed once per model. */
async function embeddingOf(example) {
  if (example.embeddedBy !== state.model) {
    example.embedding = await state.model.embed(example.image);
    example.embeddedBy = state.model;
  }
  return example.embedding;
}

function showHeadResult(predictions, where) {
  const list = $('teach-result');
  list.replaceChildren();
  const caption = document.createElement('div');
  caption.className = 'hint';
  caption.id = 'teach-where';
  caption.textContent = where;
  list.append(caption);
  for (const p of predictions) {
    const li = document.createElement('li');
    if (p.label === UNKNOWN_LABEL) li.className = 'unknown';
    const name = document.createElement('div');
    name.className = 'name';
    const label = document.createElement('span');
    label.className = 'label';
    label.textContent = p.label;
    const pct = document.createElement('span');
    pct.textContent = `${(p.probability * 100).toFixed(1)}%`;
    name.append(label, pct);
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    fill.style.width = `${Math.max(1, p.probability * 100).toFixed(1)}%`;
    bar.append(fill);
    li.append(name, bar);
    list.append(li);
  }
}

/** The head's answer for the photo on the left (the same input the model classified). */
async function predictPhoto() {
  if (!teach.head || !state.input || teach.live) return;
  const t0 = performance.now();
  const predictions = await teach.head.predict(state.input);
  showHeadResult(predictions, `the photo above, ${(performance.now() - t0).toFixed(1)} ms`);
}

async function train() {
  const method = $('teach-method').value;
  const augment = $('teach-augment').checked;
  const unknown = $('teach-unknown').checked;
  const examples = [];
  for (const e of teach.examples) {
    // Without augmentation the embeddings computed before are reused; augmentation needs the pixels.
    examples.push(augment ? { image: e.image, label: e.label, group: e.id } : { embedding: await embeddingOf(e), label: e.label, group: e.id });
  }
  const t0 = performance.now();
  const head = await trainHead(state.model, examples, {
    method,
    unknown,
    ...(augment ? { augment: { copies: 4 } } : {}),
    onProgress: ({ phase, done, total }) => phase === 'embed' && augment && teachStatus(`embedding ${done}/${total}...`),
  });
  const ms = performance.now() - t0;
  setHead(head, `trained a ${method === 'knn' ? 'kNN' : 'linear'} head in ${ms.toFixed(0)} ms`);
}

function setHead(head, how) {
  teach.head = head;
  const extra = head.method === 'knn' ? `k ${head.k}, temperature ${head.temperature}` : `${head.training.iterations ?? '?'} L-BFGS iterations`;
  teachStatus(
    `${how}: ${head.labels.length} classes (${head.labels.join(', ')}), ${head.training.examples} examples, ${extra}` +
      `${head.threshold !== null ? `, unknown below ${head.threshold.toPrecision(3)}` : ''}`,
  );
  showClasses();
  startLive();
}

/** A model switched under a head: kept when it is the same base model (another backend), dropped otherwise. */
async function rebindHead() {
  if (!teach.head) return;
  try {
    teach.head = await loadHead(teach.head.save(), state.model);
  } catch (e) {
    teach.head = null;
    $('teach-result').replaceChildren();
    teachStatus(`the head belonged to the previous model (${describeError(e)}); train again`, true);
    showClasses();
  }
}

async function startCamera() {
  const video = $('camera');
  if (teach.stream) {
    for (const track of teach.stream.getTracks()) track.stop();
    teach.stream = null;
    video.srcObject = null;
    teach.live = false;
    $('camera-start').textContent = 'Start the camera';
    $('camera-add').disabled = true;
    return;
  }
  if (!navigator.mediaDevices?.getUserMedia) throw new Error('this browser gives no camera to the page (getUserMedia needs https or localhost); add photos from files instead');
  teach.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: false });
  video.srcObject = teach.stream;
  await video.play();
  if (video.readyState < 2) await new Promise((resolve) => video.addEventListener('loadeddata', resolve, { once: true }));
  $('camera-start').textContent = 'Stop the camera';
  $('camera-add').disabled = false;
  teachStatus('camera on: hold up an example and press "Add this frame" (a few per class, from different angles)');
  startLive();
}

/** The camera's current frame as pixels (ImageData: a still example, unlike the video element). */
function grabFrame() {
  const video = $('camera');
  const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(video, 0, 0);
  return ctx.getImageData(0, 0, video.videoWidth, video.videoHeight);
}

/** While the camera runs and a head exists: predict frame after frame. */
function startLive() {
  if (teach.live || !teach.stream || !teach.head) return;
  teach.live = true;
  document.body.dataset.live = 'on';
  const step = async () => {
    if (!teach.live || !teach.stream) {
      teach.live = false;
      document.body.dataset.live = 'off';
      return;
    }
    if (teach.head && state.model && pending === 0) {
      try {
        const t0 = performance.now();
        const predictions = await teach.head.predict($('camera'));
        teach.liveMs = performance.now() - t0;
        showHeadResult(predictions, `live from the camera, ${teach.liveMs.toFixed(1)} ms per frame`);
      } catch (e) {
        // A model being replaced, or a frame not ready: the next frame tries again.
        if (e?.code !== 'ERR_DISPOSED' && e?.code !== 'ERR_INPUT') console.warn(e);
      }
    }
    requestAnimationFrame(() => void step());
  };
  void step();
}

const teachStep = (step) => {
  setTeach('busy');
  return guarded(
    async () => {
      await step();
      setTeach(teach.head ? 'trained' : 'idle');
    },
    (e) => {
      teachStatus(describeError(e), true);
      setTeach(teach.head ? 'trained' : 'idle');
    },
  );
};

$('teach-files').addEventListener('change', (ev) => {
  const files = [...ev.target.files];
  ev.target.value = '';
  if (files.length > 0) teachStep(() => addExamples(files, className()));
});
$('camera-start').addEventListener('click', () => teachStep(startCamera));
$('camera-add').addEventListener('click', () => teachStep(() => addExamples([grabFrame()], className())));
$('train').addEventListener('click', () =>
  teachStep(async () => {
    teachStatus('training...');
    await train();
    await predictPhoto();
  }),
);
$('head-save').addEventListener('click', () => {
  if (!teach.head) return;
  const bytes = teach.head.save();
  const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `head-${teach.head.method}.safetensors`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  teachStatus(`saved ${a.download} (${bytes.length} bytes): the head and the identity of its base model`);
});
$('head-file').addEventListener('change', (ev) => {
  const file = ev.target.files[0];
  ev.target.value = '';
  if (file) {
    teachStep(async () => {
      const head = await loadHead(await bytesOf(file), state.model, { name: file.name });
      setHead(head, `loaded ${file.name}`);
      await predictPhoto();
    });
  }
});

// ---------------------------------------------------------------------------------------------

if (!hasWasmSimd()) {
  $('backend').value = 'reference';
  $('backend').querySelector('option[value=wasm]').disabled = true;
}
setTeach('idle');
showClasses();
// The model in the package, at once: the page works with no file chosen.
guarded(async () => {
  status('loading the model in the package...');
  await buildModel();
  status(`model ready: ${state.modelName}${hasWasmSimd() ? '' : ' (no WebAssembly SIMD here: the reference path)'}; choose a photo`);
  await classify();
});
