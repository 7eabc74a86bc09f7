/**
 * What the three graph readers (TF.js graph, TF.js layers, TFLite) share when they lay a file's
 * chain of convolutions onto the layer table: the table's kind and name at each place of the
 * body, the first place a found chain departs from it, and alpha read from the full
 * convolutions by agreement, so that one odd layer is reported as itself rather than making
 * every other layer look wrong.
 */
import { MOBILENET_V1_CONV_DEFS } from '../model/architecture.js';

/** Convolutions before the pool: Conv2d_0, then 13 depthwise + pointwise pairs. */
export const BODY_CONVS = MOBILENET_V1_CONV_DEFS.length * 2 - 1;

export type BodyKind = 'conv' | 'depthwise' | 'pointwise';

/** The table's kind at place `i` of the body (0-based). */
export const bodyKind = (i: number): BodyKind => (i === 0 ? 'conv' : i % 2 === 1 ? 'depthwise' : 'pointwise');

/** The table's layer name at place `i` of the body: Conv2d_0, Conv2d_1_depthwise, Conv2d_1_pointwise, ... */
export const bodyLayerName = (i: number): string => (i === 0 ? 'Conv2d_0' : `Conv2d_${Math.ceil(i / 2)}_${i % 2 === 1 ? 'depthwise' : 'pointwise'}`);

/** One convolution of a file's body, in graph order, named as the file names it. */
export interface FoundConv {
  readonly name: string;
  readonly depthwise: boolean;
}

const article = (depthwise: boolean) => (depthwise ? 'a depthwise' : 'a full');

/**
 * Where the body convolutions found in a file depart from the table's sequence (Conv2d_0 full,
 * then depthwise and pointwise in turn, 27 in all): a sentence naming the first layer that
 * differs and the table's layer at that place, or null when kinds and count agree.
 */
export function chainMismatch(found: readonly FoundConv[]): string | null {
  const n = Math.min(found.length, BODY_CONVS);
  for (let i = 0; i < n; i++) {
    const f = found[i]!;
    const depthwise = bodyKind(i) === 'depthwise';
    if (f.depthwise !== depthwise) {
      return `${f.name} is ${article(f.depthwise)} convolution where the table has ${bodyLayerName(i)}, ${article(depthwise)} one ` +
        `(${bodyLayerName(i)} is missing, or a layer before it is extra)`;
    }
  }
  if (found.length < BODY_CONVS) {
    const after = found.length === 0 ? 'before any convolution' : `after ${found[found.length - 1]!.name} (${bodyLayerName(found.length - 1)})`;
    return `the chain of convolutions ends ${after}: ${bodyLayerName(found.length)} to ${bodyLayerName(BODY_CONVS - 1)} are missing`;
  }
  if (found.length > BODY_CONVS) {
    return `${found[BODY_CONVS]!.name} is a convolution beyond the table's ${BODY_CONVS} (after ${bodyLayerName(BODY_CONVS - 1)})`;
  }
  return null;
}

/**
 * Alpha from the output channels of the full convolutions: `channels[k]` for Conv2d_0 (k = 0)
 * and Conv2d_k_pointwise (k = 1..13), undefined where unknown. Each layer proposes
 * channels / the table's depth; the proposal that reproduces the most layers' channels
 * (depth = max(trunc(d * alpha), minDepth), as the table computes it) wins, the deepest
 * layer's on a tie (the deepest are the least affected by min_depth and truncation). For a
 * consistent file that is the deepest layer's alpha; for a file with one odd layer it is the
 * alpha of all the others, so the layer check names the odd one. Null when no layer proposes.
 */
export function alphaByAgreement(channels: readonly (number | undefined)[], minDepth = 8): number | null {
  const defs = MOBILENET_V1_CONV_DEFS;
  const agree = (alpha: number) =>
    defs.reduce((n, def, k) => n + (channels[k] === Math.max(Math.trunc(def.depth * alpha), minDepth) ? 1 : 0), 0);
  let best: number | null = null;
  let bestCount = 0;
  for (let k = Math.min(channels.length, defs.length) - 1; k >= 0; k--) {
    const c = channels[k];
    if (c === undefined || !Number.isSafeInteger(c) || c < 1) continue;
    const alpha = c / defs[k]!.depth;
    const count = agree(alpha);
    if (count > bestCount) {
      best = alpha;
      bestCount = count;
    }
  }
  return best;
}
