/**
 * `mobilenet convert <in> <out.safetensors>`: any model this engine reads (safetensors,
 * TFLite, a TF.js graph or layers model by directory or model.json) written as safetensors,
 * TF-Slim names and TF layouts, the architecture in `__metadata__`. The input's format is
 * found from its content (formats/index.ts), not its name.
 */
import { existsSync } from 'node:fs';
import { rename, unlink, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ErrorCodes, MobilenetError, badOption, fail } from '../errors.js';
import { buildArchitecture } from '../model/architecture.js';
import { loadModelFile } from '../formats/index.js';
import { writeSafetensors } from '../formats/safetensors.js';
import type { Io } from './io.js';

interface ConvertFlags {
  torchNames?: boolean;
  force?: boolean;
}

export function registerConvert(program: Command, io: Io): void {
  program
    .command('convert')
    .description('convert a model (safetensors, TFLite, TF.js graph or layers) to safetensors')
    .argument('<in>', 'model file, or a TF.js model directory or model.json')
    .argument('<out>', 'the .safetensors file to write')
    .option('--torch-names', "write the seed's PyTorch state_dict names and layouts (needs BatchNorm unfolded)")
    .option('--force', 'overwrite <out> if it exists')
    .action(async (input: string, output: string, flags: ConvertFlags) => {
      if (!output.toLowerCase().endsWith('.safetensors')) badOption('<out>', output, 'a file name ending in .safetensors');
      if (existsSync(output) && !flags.force) fail(ErrorCodes.IO, `${output} exists; pass --force to overwrite it`);
      const model = await loadModelFile(input);
      const bytes = writeSafetensors(model, { torchNames: flags.torchNames ?? false });
      // Write beside the target, then rename: a failed write never leaves half a file under <out>.
      const tmp = `${output}.${process.pid}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, output);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        if (e instanceof MobilenetError) throw e;
        fail(ErrorCodes.IO, `${output}: ${(e as Error)?.message ?? String(e)}`, e);
      }
      const o = buildArchitecture(model.options).options;
      const size = o.inputHeight === o.inputWidth ? `${o.inputHeight}` : `${o.inputHeight}x${o.inputWidth}`;
      io.stdout(
        `${output}: ${model.format} -> safetensors, alpha ${o.depthMultiplier}, ${size}, ${o.numClasses} classes, ` +
          `flavour ${o.flavour}, ${model.weights.size} tensors, ${bytes.length} bytes` +
          `${model.labels ? `, ${model.labels.length} labels` : ''}, input ${model.pixelNormalization}\n`,
      );
    });
}
