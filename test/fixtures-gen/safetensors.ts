/**
 * Builds safetensors files byte by byte for tests, independently of src/formats/safetensors.ts:
 * any dtype, any header text (so malformed headers can be written too).
 */
export interface RawEntry {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** Entries packed in the given order; the header as JSON.stringify writes it, unpadded. */
export function craftSafetensors(entries: RawEntry[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  return frame(JSON.stringify(header), concat(entries.map((e) => e.bytes)));
}

/** 8-byte length, the header text as UTF-8 (or raw bytes), then the buffer. */
export function frame(header: string | Uint8Array, buffer: Uint8Array = new Uint8Array(0), declaredLength?: number): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.length + buffer.length);
  const view = new DataView(out.buffer);
  const n = declaredLength ?? h.length;
  view.setUint32(0, n % 2 ** 32, true);
  view.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(h, 8);
  out.set(buffer, 8 + h.length);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function f32Bytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i]!, true);
  return out;
}

export function i64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
  return out;
}
