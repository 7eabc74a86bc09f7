// jpeg-js's decoder module on its own (its package declares types only for the whole module).
declare module 'jpeg-js/lib/decoder.js' {
  interface DecodeOptions {
    useTArray: true;
    formatAsRGBA: boolean;
    maxResolutionInMP?: number;
    maxMemoryUsageInMB?: number;
    tolerantDecoding?: boolean;
  }
  interface Decoded {
    width: number;
    height: number;
    data: Uint8Array;
    exifBuffer?: Uint8Array;
  }
  export default function decode(data: Uint8Array | ArrayBuffer, options: DecodeOptions): Decoded;
}
