/**
 * `mobilenet quantize MODEL --calibrate PHOTOS_DIR --out FILE.tflite`: post-training
 * quantization to TFLite's int8 scheme (src/quant/ptq.ts: what each choice is and which part of
 * TFLite's converter it follows). MODEL is anything `loadModelFile` reads (float TF.js,
 * safetensors, a TFLite model dequantized; a folder holding one model, as `--model DIR`).
 *
 * Order of work: flags, the --out file (refused if it exists, without --force), the calibration
 * folder (missing, not a folder, or with no PNG or JPEG in it: refused), the model (unreadable:
 * its loader's error), then each photo through the documented pipeline (`preprocessImage`: decode,
 * centre crop, resize to the model's size), with `--augment N` seeded crops and flips of each
 * (src/head/augment.ts, no colour jitter), the float model run on them with every end point as
 * output, the ranges, the file. A photo that cannot be decoded is reported and skipped (the exit
 * code is then 2, the file still written); none decodable is an error.
 *
 * Labels: the ones the engine finds for MODEL (its own, a labels file beside it, or the ImageNet
 * labels for 1001 classes) go into the file as TFLite metadata (TENSOR_AXIS_LABELS) with the
 * labels file in a zip appended to the flatbuffer, as the Coral models carry theirs.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import type { BackendName } from '../backend.js';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { loadInThread } from '../engine/load-core.js';
import type { MobileNet } from '../engine/mobilenet.js';
import { augmentImage, resolveAugment } from '../head/augment.js';
import { decodeImage, type RgbImage } from '../image/decode.js';
import { fitToModel } from '../image/sources.js';
import { mulberry32 } from '../model/random.js';
import { RangeCollector, calibrationEndpoints } from '../quant/calibrate.js';
import { checkQuantizable, quantizeToTflite, type QuantizeResult } from '../quant/ptq.js';
import { normalizeRgb } from '../image/normalize.js';
import { integer, parseBackend } from './flags.js';
import { collectInputs, resolveModel } from './inputs.js';
import { EXIT_USAGE, errnoWords, printable, type CommandStatus, type Io } from './io.js';
import { writeAtomically } from './write-atomically.js';

interface QuantizeFlags {
  calibrate: string;
  out: string;
  augment: number;
  seed: number;
  backend?: BackendName;
  force?: boolean;
  json?: boolean;
}

/** Images run through the float model at once. */
const BATCH = 4;

export function registerQuantize(program: Command, io: Io, status: CommandStatus): void {
  program
    .command('quantize')
    .description("post-training int8 quantization (TFLite's scheme: per-channel int8 weights, int8 activations calibrated on your photos) to a .tflite file")
    .argument('<model>', 'the float model: TF.js folder or model.json, safetensors, TFLite (dequantized), or a folder holding one')
    .requiredOption('--calibrate <dir>', 'a folder of PNG or JPEG photos like the ones the model will see (searched recursively)')
    .requiredOption('--out <file>', 'the .tflite file to write; an existing file is replaced only with --force')
    .option('--augment <n>', 'also calibrate on n seeded crops and flips of each photo (0: the photos only)', integer('--augment', 0, 64), 0)
    .option('--seed <n>', 'seed of the crops and flips', integer('--seed', 0, 0xffffffff), 1)
    .option('--backend <name>', 'the float model: reference or wasm (default: wasm where available)', parseBackend)
    .option('--force', 'replace an existing --out file')
    .option('--json', 'the report as one JSON object on stdout')
    .action(async (model: string, flags: QuantizeFlags) => {
      status.exitCode = await quantize(model, flags, io);
    });
}

function checkOut(out: string, force: boolean): void {
  if (!out.toLowerCase().endsWith('.tflite')) badOption('--out', out, 'a file name ending in .tflite');
  if (existsSync(out)) {
    if (statSync(out).isDirectory()) fail(ErrorCodes.IO, `--out ${out}: is a folder; name a file to write`);
    if (!force) fail(ErrorCodes.IO, `--out ${out}: the file exists (${statSync(out).size} bytes); pass --force to replace it`);
  } else if (!existsSync(dirname(out)) || !statSync(dirname(out)).isDirectory()) {
    fail(ErrorCodes.IO, `--out ${out}: cannot create it: the folder ${dirname(out)} does not exist`);
  }
}

async function findPhotos(dir: string, io: Io): Promise<{ files: string[]; failed: number }> {
  let info;
  try {
    info = statSync(dir);
  } catch (err) {
    return fail(ErrorCodes.IO, `--calibrate ${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot read (${errnoWords(err)})`}`);
  }
  if (!info.isDirectory()) fail(ErrorCodes.INPUT, `--calibrate ${dir}: expected a folder of PNG or JPEG photos, found a file`);
  const inputs = await collectInputs([dir]);
  let failed = 0;
  for (const e of inputs.entries.filter((e) => e.error)) {
    failed++;
    io.stderr(`mobilenet: ${e.error!.code}: ${printable(e.error!.message)}\n`);
  }
  const files = inputs.entries.filter((e) => !e.error).map((e) => e.file);
  if (files.length === 0) fail(ErrorCodes.INPUT, `--calibrate ${dir}: ${inputs.empty[0] ?? 'no readable PNG or JPEG file'}; calibration needs at least one photo`);
  return { files, failed };
}

async function quantize(modelArg: string, flags: QuantizeFlags, io: Io): Promise<number> {
  checkOut(flags.out, flags.force ?? false);
  const { files, failed: unreadable } = await findPhotos(flags.calibrate, io);
  let model: MobileNet | null = null;
  let failed = unreadable;
  try {
    model = await loadInThread(await resolveModel(modelArg), flags.backend ? { backend: flags.backend } : {});
    checkQuantizable(model);
    const [h, w] = model.inputShape;
    const endpoints = calibrationEndpoints(model);
    const collector = new RangeCollector();
    const augment = flags.augment > 0 ? resolveAugment({ copies: flags.augment, flip: true, crop: 0.75, jitter: 0 })! : null;
    const next = mulberry32(flags.seed);
    let pending: Uint8Array[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const x = normalizeRgb(pending, h, w, model!.normalization);
      collector.add(x.data, model!.run(x, { outputs: endpoints }), pending.length);
      pending = [];
    };
    // The pipeline's steps 2-3 (preprocessImage for a square model): centre crop, resize.
    const toModel = (image: RgbImage) => fitToModel(image, h, w);
    let photos = 0;
    for (const file of files) {
      let rgb;
      try {
        rgb = decodeImage(new Uint8Array(await readFile(file)), file);
      } catch (err) {
        if (!(err instanceof MobilenetError) && !(err as NodeJS.ErrnoException)?.code) throw err;
        failed++;
        const code = err instanceof MobilenetError ? err.code : ErrorCodes.IO;
        const message = err instanceof MobilenetError ? err.message : `${file}: cannot read (${errnoWords(err)})`;
        io.stderr(`mobilenet: ${code}: ${printable(message)}\n`);
        continue;
      }
      photos++;
      pending.push(toModel(rgb));
      for (let c = 0; augment && c < augment.copies; c++) pending.push(toModel(augmentImage(rgb, h, w, augment, next)));
      if (pending.length >= BATCH) flush();
    }
    flush();
    if (photos === 0) fail(ErrorCodes.INPUT, `--calibrate ${flags.calibrate}: none of the ${files.length} PNG or JPEG files could be decoded (reported above)`);
    const calibration = collector.result();
    const result = quantizeToTflite(model, calibration);
    await writeAtomically(flags.out, result.bytes);
    const o = model.architecture.options;
    const summary = {
      out: flags.out,
      bytes: result.bytes.length,
      model: { alpha: o.depthMultiplier, height: o.inputHeight, width: o.inputWidth, classes: o.numClasses, normalization: model.normalization },
      calibration: { photos, augmentedCopies: augment?.copies ?? 0, images: calibration.images, failed, input: calibration.input },
      labels: result.labels,
      activations: result.activations,
      weights: result.weights,
    };
    if (flags.json) io.stdout(`${JSON.stringify(summary)}\n`);
    else io.stdout(formatReport(summary, result));
    return failed > 0 ? EXIT_USAGE : 0;
  } finally {
    model?.dispose();
  }
}

function formatReport(s: { out: string; bytes: number; model: { alpha: number; height: number; width: number; classes: number }; calibration: { photos: number; augmentedCopies: number; images: number; failed: number } }, r: QuantizeResult): string {
  const lines = ['end point              calibrated min .. max        scale         zero point'];
  for (const a of r.activations) {
    const range = a.calibrated ? `${a.calibrated.min.toFixed(4).padStart(9)} .. ${a.calibrated.max.toFixed(4).padEnd(9)}` : (a.endpoint === 'Predictions' ? '(fixed: softmax)' : '(its input\'s)').padEnd(22);
    lines.push(`${a.endpoint.padEnd(22)} ${range.padEnd(28)} ${a.scale.toPrecision(6).padEnd(13)} ${a.zeroPoint}`);
  }
  const widened = r.weights.reduce((n, w) => n + w.widenedForBias, 0);
  const zero = r.weights.reduce((n, w) => n + w.zeroChannels, 0);
  const size = s.model.height === s.model.width ? `${s.model.height}` : `${s.model.height}x${s.model.width}`;
  const c = s.calibration;
  lines.push(
    '',
    `${printable(s.out)}: int8 TFLite (per-channel int8 weights, int8 input and output), alpha ${s.model.alpha}, ${size}, ${s.model.classes} classes, ` +
      `calibrated on ${c.photos} photo${c.photos === 1 ? '' : 's'}${c.augmentedCopies ? ` x ${1 + c.augmentedCopies} views (${c.images} images)` : ''}, ` +
      `${r.labels ? `${r.labels} labels embedded` : 'no labels'}, ${s.bytes} bytes` +
      `${zero ? `; ${zero} all-zero weight channels` : ''}${widened ? `; ${widened} weight channels widened for their bias` : ''}`,
  );
  if (c.failed > 0) lines.push(`${c.failed} file${c.failed === 1 ? '' : 's'} could not be read (reported above)`);
  return `${lines.join('\n')}\n`;
}
