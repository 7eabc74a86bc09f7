/**
 * `mobilenet golden`: writes a golden bundle (docs/golden-format.md) computed by the reference
 * path, with the Python checker and, with --onnx, the model as ONNX.
 * `mobilenet verify DIR --outputs OTHER`: compares another engine's end points with a bundle.
 * The configuration flags are shared with `mobilenet export` (export.ts).
 *
 * Exit codes of verify: 0 every compared end point within tolerance; 1 an end point diverges
 * (the report names the first, in network order); 2 refused input (a damaged bundle, a bad
 * option, an unreadable OTHER), with one coded line on stderr.
 */
import type { Command } from 'commander';
import { badOption } from '../errors.js';
import { createBundle, engineVersion, readBundle, writeBundle, type GoldenConfig } from '../golden/bundle.js';
import { compareWithBundle, formatReport, loadOtherOutputs } from '../golden/verify.js';
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
    .action(async (flags: GoldenFlags) => {
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
      const bundle = await readBundle(dir);
      const other = await loadOtherOutputs(flags.outputs, bundle);
      const report = compareWithBundle(bundle, other);
      io.stdout(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(report, bundle));
      status.exitCode = report.passed ? 0 : EXIT_DIVERGED;
    });
}
