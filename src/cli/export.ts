/**
 * `mobilenet export --onnx FILE [configuration flags]`: writes the model of a golden bundle's
 * configuration as an ONNX file (opset 13): input `input` [N, H, W, 3] NHWC, one output per
 * end point named as the end point, NHWC, BatchNorm folded. The same flags as
 * `mobilenet golden` (alpha, resolution, seed, flavour, batch, end points, output stride,
 * explicit padding, global pool) give the same bytes as that bundle's model.onnx.
 */
import { existsSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ErrorCodes, MobilenetError, fail } from '../errors.js';
import { createOnnxModel, engineVersion } from '../golden/bundle.js';
import { configFromFlags, configOptions, type ConfigFlags } from './golden.js';
import type { Io } from './io.js';

interface ExportFlags extends ConfigFlags {
  onnx: string;
  force?: boolean;
}

export function registerExport(program: Command, io: Io): void {
  const command = program
    .command('export')
    .description("write a golden configuration's model as ONNX (opset 13): outputs are the end points, NHWC, named as in the bundle")
    .requiredOption('--onnx <file>', 'the .onnx file to write');
  configOptions(command)
    .option('--force', 'overwrite the file if it exists')
    .action(async (flags: ExportFlags) => {
      const output = flags.onnx;
      if (existsSync(output) && !flags.force) fail(ErrorCodes.IO, `${output} exists; pass --force to overwrite it`);
      const config = configFromFlags(flags, true);
      const bytes = await createOnnxModel(config, await engineVersion());
      // Write beside the target, then rename: a failed write never leaves half a file under FILE.
      const tmp = `${output}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, output);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        if (e instanceof MobilenetError) throw e;
        fail(ErrorCodes.IO, `${output}: ${(e as Error)?.message ?? String(e)}`, e);
      }
      const r = config.resolution;
      const size = typeof r === 'number' ? `${r}` : `${r[0]}x${r[1]}`;
      io.stdout(`${output}: ONNX opset 13, alpha ${config.alpha}, ${size}, flavour ${config.flavour}, batch ${config.batch}, seed ${config.seed}, ${bytes.length} bytes\n`);
    });
}
