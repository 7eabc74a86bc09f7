export { decodeImage, MAX_IMAGE_PIXELS, type RgbImage } from './decode.js';
export { centerCropSquare, resizeBilinear, resizeBilinearFloat, roundToUint8 } from './resize.js';
export { imageToInput, normalizePixels, preprocessImage, toModelInput, toModelInput01, type PixelScaling } from './pipeline.js';
