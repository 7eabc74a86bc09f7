/**
 * Adds a per-channel bias to `rows` rows of `channels` floats, in place.
 * The first kernel: it proves the build, the imported memory and the SIMD pipeline.
 */
export function f32_add_bias(data: usize, bias: usize, rows: i32, channels: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = data + <usize>(r * channels) * 4;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      v128.store(row + <usize>c * 4, f32x4.add(v128.load(row + <usize>c * 4), v128.load(bias + <usize>c * 4)));
    }
    for (; c < channels; c++) {
      store<f32>(row + <usize>c * 4, load<f32>(row + <usize>c * 4) + load<f32>(bias + <usize>c * 4));
    }
  }
}
