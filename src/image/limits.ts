/**
 * The image size cap, in a module of its own: src/image/sources.ts needs it in every bundle, and
 * importing it from codecs.ts would pull the JS decoders (fast-png, jpeg-js) into the main chunk
 * of a browser app instead of the chunk loaded on first decode.
 */

/** Largest image decoded: 40 megapixels, so a forged header cannot ask for gigabytes. */
export const MAX_IMAGE_PIXELS = 40_000_000;
