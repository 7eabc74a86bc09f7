/**
 * `mobilenet golden`: writes a golden bundle (docs/golden-format.md) computed by the reference
 * path, with the Python checker and, with --onnx, the model as ONNX. With `--model FILE.tflite`
 * (a uint8 or int8 TFLite file): a quantized bundle (format version 3, src/golden/quant.ts) of
 * the integer reference path on photos (`--images`) or a seeded integer input, compared exactly.
 * `mobilenet verify DIR --outputs OTHER`: compares another engine's end points with a bundle.
 * The configuration flags are shared with `mobilenet export` (export.ts).
 *
 * Exit codes of verify: 0 every compared end point within tolerance; 1 an end point diverges
 * (the report names the first, in network order); 2 refused input (a damaged bundle, a bad
 * option, an unreadable OTHER), with one coded line on stderr.
 */
import type { Command } from 'commander';
import { platform } from '#platform';
import { ErrorCodes, badOption, fail } from '../errors.js';
import { MAX_BUNDLE_FILE_BYTES, createBundle, engineVersion, readBundle, writeBundle, type GoldenConfig } from '../golden/bundle.js';
import {
  MAX_QUANT_GOLDEN_BATCH, QUANT_FORMAT_VERSION, bundleFormatVersion, compareWithQuantBundle, createQuantBundle, formatQuantReport, loadQuantOtherOutputs, readQuantBundle,
} from '../golden/quant.js';
import { compareWithBundle, formatReport, loadOtherOutputs } from '../golden/verify.js';
import { collectInputs } from './inputs.js';
import type { CommandStatus, Io } from './io.js';
import { integer, parseAlpha, parseFlavour, parseResolution } from './flags.js';

/** Exit code of a verify whose outputs diverge (refused input exits with EXIT_USAGE, 2). */
const EXIT_DIVERGED = 1;

const parseSeed = integer('--seed', 0, 2 ** 32 - 1);
const parseBatch = integer('--batch', 1, 64);

/** `all`, or end point names separated by commas (checked against the layer table later). */
function parseEndpoints(value: string): 'all' | string[] {
  if (value === 'all') return 'all';
  const names = value.split(',').map((s) => s.trim());
  if (names.some((n) => n === '')) badOption('--endpoints', value, '"all" or end point names separated by commas, such as Conv2d_13_pointwise,Logits');
  return names;
}

/** `--output-stride`: 8, 16 or 32. */
function parseOutputStride(value: string): 8 | 16 | 32 {
  if (value !== '8' && value !== '16' && value !== '32') badOption('--output-stride', value, '8, 16 or 32');
  return Number(value) as 8 | 16 | 32;
}

/** The flags that choose a configuration (golden and export share them). */
export interface ConfigFlags {
  alpha?: number;
  resolution?: number | [number, number];
  seed: number;
  flavour: 'tf' | 'torch';
  batch: number;
  endpoints: 'all' | string[];
  outputStride?: 8 | 16 | 32;
  explicitPadding?: boolean;
  globalPool?: boolean;
}

interface GoldenFlags extends ConfigFlags {
  out: string;
  onnx?: boolean;
  model?: string;
  images?: string[];
}

/** Flags that choose a float configuration: a quantized model's file sets these itself. */
const FLOAT_ONLY = [['alpha', '--alpha'], ['resolution', '--resolution'], ['flavour', '--flavour'], ['outputStride', '--output-stride'], ['explicitPadding', '--explicit-padding'], ['globalPool', '--global-pool'], ['onnx', '--onnx']] as const;

/** `golden --model FILE.tflite`: the quantized bundle of a uint8 or int8 TFLite file. */
async function quantGolden(flags: GoldenFlags, given: (key: string) => boolean, io: Io): Promise<void> {
  for (const [key, flag] of FLOAT_ONLY) {
    if (given(key)) badOption(flag, String(flags[key as keyof GoldenFlags]), `no ${flag} with --model: the TFLite file sets the network (and a quantized bundle has no ONNX model)`);
  }
  let images: { name: string; bytes: Uint8Array }[] | undefined;
  if (flags.images) {
    if (given('seed') || given('batch')) badOption(given('seed') ? '--seed' : '--batch', String(given('seed') ? flags.seed : flags.batch), 'no --seed or --batch with --images: the photos are the input, one per batch entry');
    const inputs = await collectInputs(flags.images);
    const broken = inputs.entries.find((e) => e.error);
    if (broken) throw broken.error;
    if (inputs.entries.length === 0) fail(ErrorCodes.INPUT, `--images ${flags.images.join(' ')}: ${inputs.empty[0] ?? 'no PNG or JPEG file'}`);
    if (inputs.entries.length > MAX_QUANT_GOLDEN_BATCH) badOption('--images', `${inputs.entries.length} photos`, `1 to ${MAX_QUANT_GOLDEN_BATCH} photos (one bundle holds at most ${MAX_QUANT_GOLDEN_BATCH})`);
    images = [];
    for (const e of inputs.entries) images.push({ name: e.file, bytes: await platform.readFile(e.file, MAX_BUNDLE_FILE_BYTES) });
  }
  const model = await platform.readFile(flags.model!, MAX_BUNDLE_FILE_BYTES);
  const files = createQuantBundle(model, { modelName: flags.model!, images, seed: flags.seed, batch: flags.batch, endpoints: flags.endpoints }, await engineVersion());
  await writeBundle(flags.out, files);
  const bytes = [...files.values()].reduce((a, b) => a + b.length, 0);
  const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json')!)) as { tensors: unknown[]; endpoints: { computed: string[] }; model: { dtype: string }; config: { batch: number } };
  io.stdout(`${flags.out}: quantized (${manifest.model.dtype}, batch ${manifest.config.batch}, ${images ? `${images.length} photos` : `seed ${flags.seed}`}), ${manifest.endpoints.computed.length} end points as integers, compared exactly; ${manifest.tensors.length} tensors, ${files.size} files with model.tflite and verify_golden.py, ${bytes} bytes\n`);
}

/** Adds the configuration flags to a command. */
export function configOptions(command: Command): Command {
  return command
    .option('--alpha <A>', 'width multiplier, > 0 (default 1)', parseAlpha)
    .option('--resolution <R>', 'input size: 224 or HxW (default 224)', parseResolution)
    .option('--seed <S>', 'seed of the weights and the input, 0 to 2^32-1', parseSeed, 0)
    .option('--flavour <F>', 'tf (TF-Slim) or torch (the seed\'s PyTorch MobileNet)', parseFlavour, 'tf' as const)
    .option('--batch <N>', 'images in the input, 1 to 64', parseBatch, 1)
    .option('--endpoints <all|LIST>', 'all, or end point names separated by commas', parseEndpoints, 'all' as const)
    .option('--output-stride <S>', "TF-Slim's output_stride: 8, 16 or 32 (atrous convolutions past it)", parseOutputStride)
    .option('--explicit-padding', "TF-Slim's use_explicit_padding (flavour tf)")
    .option('--global-pool', 'a global average pool instead of AvgPool_1a (logits of an output stride 8 or 16 network need it)');
}

/** The configuration the flags choose. */
export function configFromFlags(flags: ConfigFlags, onnx = false): GoldenConfig {
  return {
    alpha: flags.alpha ?? 1,
    resolution: flags.resolution ?? 224,
    seed: flags.seed,
    flavour: flags.flavour,
    batch: flags.batch,
    endpoints: flags.endpoints,
    outputStride: flags.outputStride ?? null,
    useExplicitPadding: flags.explicitPadding ?? false,
    globalPool: flags.globalPool ?? false,
    onnx,
  };
}

interface VerifyFlags {
  outputs: string;
  json?: boolean;
}

/**
 * Registers `golden` and `verify`. Pass the program's `status` (as for classify) so a diverging
 * verify ends with exit code 1; without it only refused input changes the exit code.
 */
export function registerGolden(program: Command, io: Io, status: CommandStatus = { exitCode: 0 }): void {
  const golden = program
    .command('golden')
    .description('write a golden bundle: seeded input, every weight, every end point (reference path), as safetensors and .npy, with verify_golden.py')
    .requiredOption('--out <dir>', 'the folder to write (created if needed)');
  configOptions(golden)
    .option('--onnx', 'also write model.onnx: the exact model as ONNX (opset 13), outputs named as the end points')
    .option('--model <file>', 'a uint8 or int8 TFLite file: a quantized bundle (integer end points with scale and zero point, the file itself, compared exactly)')
    .option('--images <paths...>', 'with --model: photos (files or folders) as the input, one per batch entry (default: a seeded integer input)')
    .action(async (flags: GoldenFlags, command: Command) => {
      const given = (key: string) => command.getOptionValueSource(key) === 'cli';
      if (flags.model !== undefined) return quantGolden(flags, given, io);
      if (flags.images !== undefined) badOption('--images', flags.images.join(' '), `--images with --model FILE.tflite (a quantized bundle); a float bundle's input is seeded`);
      const config = configFromFlags(flags, flags.onnx ?? false);
      const files = await createBundle(config, await engineVersion());
      await writeBundle(flags.out, files);
      const bytes = [...files.values()].reduce((a, b) => a + b.length, 0);
      const manifest = JSON.parse(new TextDecoder().decode(files.get('manifest.json')!)) as { tensors: unknown[]; endpoints: { computed: string[] } };
      const extras = ['verify_golden.py', ...(files.has('model.onnx') ? ['model.onnx'] : [])].join(' and ');
      io.stdout(`${flags.out}: ${manifest.endpoints.computed.length} end points, ${manifest.tensors.length} tensors, ${files.size} files with ${extras}, ${bytes} bytes\n`);
    });

  program
    .command('verify')
    .description("compare another engine's end points with a golden bundle; exit 1 when one diverges")
    .argument('<dir>', 'the golden bundle folder')
    .requiredOption('--outputs <path>', 'the other outputs: a .safetensors file, a folder of <end point>.npy files, or another bundle')
    .option('--json', 'print the report as JSON')
    .action(async (dir: string, flags: VerifyFlags) => {
      if ((await bundleFormatVersion(dir)) === QUANT_FORMAT_VERSION) {
        const quant = await readQuantBundle(dir);
        const report = compareWithQuantBundle(quant, await loadQuantOtherOutputs(flags.outputs, quant));
        io.stdout(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatQuantReport(report, quant));
        status.exitCode = report.passed ? 0 : EXIT_DIVERGED;
        return;
      }
      const bundle = await readBundle(dir);
      const other = await loadOtherOutputs(flags.outputs, bundle);
      const report = compareWithBundle(bundle, other);
      io.stdout(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report, bundle));
      status.exitCode = report.passed ? 0 : EXIT_DIVERGED;
    });
}
