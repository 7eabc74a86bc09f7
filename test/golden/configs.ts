/**
 * The configurations the golden tests run: the 16 alpha x rho of the MobileNet v1 paper's
 * tables (alpha 0.25, 0.5, 0.75, 1 at 128, 160, 192, 224), output stride 8 and 16 (atrous
 * convolutions past the stride; a global pool then, since AvgPool_1a's 7x7 window no longer
 * covers the map), TF-Slim's explicit padding and the seed's PyTorch flavour.
 */
import type { GoldenConfig } from '../../src/golden/bundle.js';

export interface NamedConfig {
  label: string;
  config: GoldenConfig;
}

const base = { seed: 0, flavour: 'tf', batch: 1, endpoints: 'all', onnx: true } as const;

export const ALPHA_RHO: NamedConfig[] = [0.25, 0.5, 0.75, 1].flatMap((alpha) =>
  [128, 160, 192, 224].map((resolution) => ({ label: `alpha ${alpha} ${resolution}`, config: { ...base, alpha, resolution } })),
);

export const OS8: NamedConfig = { label: 'alpha 0.5 224 output stride 8 global pool batch 2', config: { ...base, alpha: 0.5, resolution: 224, outputStride: 8, globalPool: true, batch: 2 } };
export const OS16: NamedConfig = { label: 'alpha 1 224 output stride 16 global pool', config: { ...base, alpha: 1, resolution: 224, outputStride: 16, globalPool: true } };
export const EXPLICIT: NamedConfig = { label: 'alpha 1 224 explicit padding', config: { ...base, alpha: 1, resolution: 224, useExplicitPadding: true } };
export const TORCH: NamedConfig = { label: 'alpha 1 224 flavour torch', config: { ...base, alpha: 1, resolution: 224, flavour: 'torch' } };

export const ALL_CONFIGS: NamedConfig[] = [...ALPHA_RHO, OS8, OS16, EXPLICIT, TORCH];

/** The architecture options of a configuration (as the bundle builds them). */
export function optionsOf(c: GoldenConfig) {
  return {
    flavour: c.flavour,
    depthMultiplier: c.alpha,
    inputSize: c.resolution,
    ...(c.outputStride ? { outputStride: c.outputStride } : {}),
    ...(c.useExplicitPadding ? { useExplicitPadding: true } : {}),
    ...(c.globalPool ? { globalPool: true } : {}),
  };
}
