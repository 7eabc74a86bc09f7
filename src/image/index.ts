export { decodeImage, sniffImageFormat, MAX_IMAGE_PIXELS, type RgbImage, type ImageFormat, type DecodeOptions } from './decode.js';
export { centerCropSquare, resizeBilinear, resizeBilinearFloat, roundToUint8 } from './resize.js';
export { imageToInput, preprocessImage } from './pipeline.js';
export { normalizePixels, toModelInput, toModelInput01, type PixelNormalization, type PixelScaling } from './normalize.js';
