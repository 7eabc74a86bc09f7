(module
  (import "env" "memory" (memory 1))
  ;; out[r] = dot(rows[r], q) for r < n: rows f32 [n, dim] at $rows, q f64 [dim] at $q, out f64 [n] at $out.
  ;; Eight partial sums s_j over i = j (mod 8), float64, then ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7));
  ;; the dim mod 8 last elements go to s0 in order: the same bits as `dot` in src/head/math.ts.
  ;; Built into src/head/simd.ts (SIMS_WASM) by binaryen.parseText(...).emitBinary(); test/head/simd.test.ts checks the two agree.
  (func (export "sims") (param $rows i32) (param $n i32) (param $dim i32) (param $q i32) (param $out i32)
    (local $r i32) (local $i i32) (local $p i32) (local $qp i32) (local $end8 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128) (local $w v128) (local $s0 f64)
    (local.set $end8 (i32.and (local.get $dim) (i32.const -8)))
    (local.set $p (local.get $rows))
    (block $done (loop $rowloop
      (br_if $done (i32.ge_u (local.get $r) (local.get $n)))
      (local.set $a0 (v128.const i64x2 0 0))
      (local.set $a1 (v128.const i64x2 0 0))
      (local.set $a2 (v128.const i64x2 0 0))
      (local.set $a3 (v128.const i64x2 0 0))
      (local.set $i (i32.const 0))
      (local.set $qp (local.get $q))
      (block $inner_done (loop $inner
        (br_if $inner_done (i32.ge_u (local.get $i) (local.get $end8)))
        (local.set $v (v128.load (local.get $p)))
        (local.set $w (v128.load offset=16 (local.get $p)))
        (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (v128.load (local.get $qp)))))
        (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))) (v128.load offset=16 (local.get $qp)))))
        (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (f64x2.promote_low_f32x4 (local.get $w)) (v128.load offset=32 (local.get $qp)))))
        (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $w) (local.get $w))) (v128.load offset=48 (local.get $qp)))))
        (local.set $p (i32.add (local.get $p) (i32.const 32)))
        (local.set $qp (i32.add (local.get $qp) (i32.const 64)))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $inner)))
      (local.set $s0 (f64x2.extract_lane 0 (local.get $a0)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $dim)))
        (local.set $s0 (f64.add (local.get $s0) (f64.mul (f64.promote_f32 (f32.load (local.get $p))) (f64.load (local.get $qp)))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (local.set $qp (i32.add (local.get $qp) (i32.const 8)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
      (f64.store (local.get $out)
        (f64.add
          (f64.add (f64.add (local.get $s0) (f64x2.extract_lane 1 (local.get $a0))) (f64.add (f64x2.extract_lane 0 (local.get $a1)) (f64x2.extract_lane 1 (local.get $a1))))
          (f64.add (f64.add (f64x2.extract_lane 0 (local.get $a2)) (f64x2.extract_lane 1 (local.get $a2))) (f64.add (f64x2.extract_lane 0 (local.get $a3)) (f64x2.extract_lane 1 (local.get $a3))))))
      (local.set $out (i32.add (local.get $out) (i32.const 8)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rowloop))))
)
