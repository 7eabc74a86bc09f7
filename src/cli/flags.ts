/** Flag parsers the subcommands share: each refuses what it cannot read with ERR_OPTION naming the flag. */
import type { BackendName } from '../backend.js';
import { badOption } from '../errors.js';

export function parseBackend(value: string): BackendName {
  if (value !== 'reference' && value !== 'wasm') badOption('--backend', value, '"reference" or "wasm"');
  return value;
}

/** An integer flag from `min` to `max`, written in decimal digits. */
export const integer = (flag: string, min: number, max: number) => (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) badOption(flag, value, `an integer from ${min} to ${max}`);
  return Number(value);
};
