/**
 * `mobilenet summary`: the per-layer params and Mult-Adds of one configuration.
 * The parsers here check only the form of each flag (and name the flag when it is wrong);
 * ranges and combinations are the layer table's to refuse, through the same errors as the API.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CONV_DEFS_PRESETS, buildArchitecture, type ConvDef, type MobileNetOptions } from '../model/architecture.js';
import { formatSummary, summaryJson } from '../model/summary.js';
import { ErrorCodes, badOption, fail } from '../errors.js';
import { parseAlpha, parseFlavour, parseResolution } from './flags.js';
import type { Io } from './io.js';

const INT = /^\d+$/;

/** `--classes`: 0 (no classifier) or more. */
function parseClasses(value: string): number {
  if (!INT.test(value)) badOption('--classes', value, 'a non-negative integer (0: no classifier)');
  return Number(value);
}

/** `--conv-defs`: a preset name, or a JSON file holding a list of {type, kernel, stride, depth}. */
function parseConvDefs(value: string): MobileNetOptions['convDefs'] {
  if (value in CONV_DEFS_PRESETS) return value as keyof typeof CONV_DEFS_PRESETS;
  if (!value.toLowerCase().endsWith('.json')) {
    badOption('--conv-defs', value, `one of ${Object.keys(CONV_DEFS_PRESETS).join(', ')} or a FILE.json`);
  }
  let text: string;
  try {
    text = readFileSync(value, 'utf8');
  } catch (err) {
    fail(ErrorCodes.IO, `--conv-defs: cannot read ${value}: ${(err as Error).message}`, err);
  }
  try {
    // The entries are validated by the layer table (convDefs[i].type, .kernel, ...).
    return JSON.parse(text) as ConvDef[];
  } catch (err) {
    badOption('--conv-defs', value, `a file of JSON (${(err as Error).message})`);
  }
}

interface SummaryFlags {
  alpha?: number;
  resolution?: number | [number, number];
  convDefs?: MobileNetOptions['convDefs'];
  classes?: number;
  flavour?: 'tf' | 'torch';
  globalPool?: boolean;
  json?: boolean;
}

export function registerSummary(program: Command, io: Io): void {
  program
    .command('summary')
    .description('per-layer parameters and Mult-Adds (weights only, as TF-Slim counts them)')
    .option('--alpha <A>', 'width multiplier, > 0 (default 1)', parseAlpha)
    .option('--resolution <R>', 'input size: 224 or HxW such as 160x224 (default 224)', parseResolution)
    .option('--conv-defs <NAME|FILE.json>', 'mobilenet_v1, conv, shallow, or a JSON list of {type, kernel, stride, depth}', parseConvDefs)
    .option('--classes <N>', 'classifier outputs, 0 for none (default 1001 tf, 1000 torch)', parseClasses)
    .option('--flavour <F>', 'tf (TF-Slim, default) or torch', parseFlavour)
    // Without it, inputs whose last map pools to more than 1x1 cannot be squeezed into logits.
    .option('--global-pool', 'average over the whole last feature map')
    .option('--json', 'print JSON instead of the table')
    .action((flags: SummaryFlags) => {
      // Flags left out stay undefined, which the layer table reads as its defaults.
      const arch = buildArchitecture({
        flavour: flags.flavour,
        depthMultiplier: flags.alpha,
        inputSize: flags.resolution,
        convDefs: flags.convDefs,
        numClasses: flags.classes,
        globalPool: flags.globalPool,
      });
      io.stdout(flags.json ? JSON.stringify(summaryJson(arch), null, 2) + '\n' : formatSummary(arch));
    });
}
