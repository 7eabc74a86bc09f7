/**
 * Your own classes on a MobileNet's embeddings: a kNN and a trained linear head, saved as one
 * safetensors file with the base model's identity, loaded in every runtime (nothing here imports
 * a `node:` module). See train.ts for the API, heads.ts for scores and probabilities, format.ts for
 * the file, identity.ts for what identifies a base model, math.ts for why the bits agree everywhere.
 */
export { trainHead, loadHead, TEMPERATURES, type HeadExample, type TrainHeadOptions, type TrainProgress } from './train.js';
export {
  UNKNOWN_LABEL,
  type Head,
  type KnnHead,
  type LinearHead,
  type HeadMethod,
  type HeadPrediction,
  type HeadTraining,
  type PredictOptions,
  type EmbeddingInput,
} from './heads.js';
export { modelIdentity, type BaseModelIdentity, type HeadBaseModel } from './identity.js';
export type { AugmentOptions } from './augment.js';
export { HEAD_FORMAT, HEAD_FORMAT_VERSION } from './format.js';
