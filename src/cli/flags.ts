/** Flag parsers the subcommands share: each refuses what it cannot read with ERR_OPTION naming the flag. */
import type { BackendName } from '../backend.js';
import { badOption } from '../errors.js';
import { MAX_RESOLUTION } from '../model/architecture.js';

export function parseBackend(value: string): BackendName {
  if (value !== 'reference' && value !== 'wasm') badOption('--backend', value, '"reference" or "wasm"');
  return value;
}

/** An integer flag from `min` to `max`, written in decimal digits. */
export const integer = (flag: string, min: number, max: number) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) badOption(flag, value, `an integer from ${min} to ${max}`);
  return Number(value);
};

/** `--alpha`: any number greater than 0. */
export function parseAlpha(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) badOption('--alpha', value, 'a number greater than 0');
  return n;
}

const INT = /^\d+$/;

/** `--resolution`: `224` (square) or `160x224` (height x width). */
export function parseResolution(value: string): number | [number, number] {
  const parts = value.toLowerCase().split('x');
  if (parts.length > 2 || !parts.every((p) => INT.test(p) && Number(p) >= 1 && Number(p) <= MAX_RESOLUTION)) {
    badOption('--resolution', value, `an integer from 1 to ${MAX_RESOLUTION} such as 224, or HxW such as 160x224`);
  }
  const [h, w] = parts.map(Number) as [number, number?];
  return w === undefined ? h : [h, w];
}

/** `--flavour`: the TF-Slim model or the seed's PyTorch one. */
export function parseFlavour(value: string): 'tf' | 'torch' {
  if (value !== 'tf' && value !== 'torch') badOption('--flavour', value, '"tf" or "torch"');
  return value;
}

