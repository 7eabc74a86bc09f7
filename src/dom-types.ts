/**
 * Types of runtime objects named without making a project need their lib: where the DOM lib is
 * in the program these are the real `HTMLImageElement`, `VideoFrame`, …; where it is not (a Node
 * project without "DOM"), they are `never`, and the declarations that mention them still
 * compile. So the published types stand on their own, with or without DOM or @types/node.
 */
type Global = typeof globalThis;
type InstanceOf<K extends string> = Global extends { [P in K]: { prototype: infer T } } ? T : never;

export type HTMLImageElementLike = InstanceOf<'HTMLImageElement'>;
export type HTMLCanvasElementLike = InstanceOf<'HTMLCanvasElement'>;
export type HTMLVideoElementLike = InstanceOf<'HTMLVideoElement'>;
export type OffscreenCanvasLike = InstanceOf<'OffscreenCanvas'>;
export type ImageBitmapLike = InstanceOf<'ImageBitmap'>;
export type VideoFrameLike = InstanceOf<'VideoFrame'>;

/** The browser image objects `classify` and `embed` accept (in browsers and workers). */
export type DomImageSource =
  | HTMLImageElementLike
  | HTMLCanvasElementLike
  | HTMLVideoElementLike
  | OffscreenCanvasLike
  | ImageBitmapLike
  | VideoFrameLike;

/** `WebAssembly.Module` where the program knows it (DOM lib, webworker lib or @types/node). */
export type WasmModuleLike = Global extends { WebAssembly: { Module: { prototype: infer T } } } ? T : never;

/** `WebAssembly.Memory` where the program knows it. */
export type WasmMemoryLike = Global extends { WebAssembly: { Memory: { prototype: infer T } } } ? T : never;

/** An AbortSignal where the program knows it. */
export type AbortSignalLike = InstanceOf<'AbortSignal'>;

/** `URL` where the program knows it (DOM lib, webworker lib or @types/node); never elsewhere (ES2022 alone has no URL). */
export type URLLike = InstanceOf<'URL'>;

/** A fetch `Response` where the program knows it. */
export type ResponseObject = InstanceOf<'Response'>;

/** The global `fetch` function's type where the program knows it (DOM lib, webworker lib or @types/node). */
export type FetchFunction = Global extends { fetch: infer F } ? F : never;
