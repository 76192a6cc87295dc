//! Matrix products that the `gemm` crate does poorly: `a` with one or two rows (a recurrent
//! cell's per-step `h · W_h` over two sequences) or a tiny inner dimension (an encoder's first
//! layer over 4 observation features).
//!
//! `gemm` packs `b` into panels on every call, which costs more than such a product itself.
//! Here `b` (row-major) is streamed once per pair of rows, straight from where it lies, into 8
//! AVX2 accumulators held in registers (2 rows × 32 columns). Measured against `gemm` on this
//! machine: 2 × 64 · 64 × 192 in 0.7 µs instead of 1.2–1.5 µs, 64 × 4 · 4 × 120 in 1.3 µs
//! instead of 2.1 µs; from 4 rows on, with `k` ≥ 64, `gemm` is as fast or faster.

/// Whether an `m × k · k × n` product should take [`few_rows`] rather than `gemm`.
pub(crate) fn suits(m: usize, k: usize, n: usize) -> bool {
    n >= 8 && (m <= 2 || k <= 8)
}

/// `dst (+)= a · b` for row-major `a: [m, k]` (row stride `a_rs`), `b: [k, n]` (row stride
/// `b_rs`) and `dst: [m, n]` (row stride `dst_rs`). Returns false (and does nothing) when the CPU
/// lacks AVX2/FMA, so that the caller falls back to `gemm`.
///
/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads of initialised values) at
/// `i·dst_rs + j` for every `i < m`, `j < n`, and must not overlap `a` or `b`. Without
/// `accumulate` the destination is only written, so it may be uninitialised.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn few_rows(
    dst: *mut f32,
    dst_rs: usize,
    a: &[f32],
    a_rs: usize,
    b: &[f32],
    b_rs: usize,
    (m, k, n): (usize, usize, usize),
    accumulate: bool,
) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    assert!(a_rs >= k && b_rs >= n && dst_rs >= n, "few_rows: strides");
    assert!(
        a.len() >= (m - 1) * a_rs + k && (k == 0 || b.len() >= (k - 1) * b_rs + n),
        "few_rows: buffers too small"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let p = Product {
                dst,
                dst_rs,
                a: a.as_ptr(),
                a_rs,
                b: b.as_ptr(),
                b_rs,
                k,
                accumulate,
            };
            // SAFETY: the asserts above keep every index of the m × k and k × n views inside
            // `a` and `b`; the caller vouches for `dst`; the CPU has AVX2 and FMA.
            unsafe { avx2::product(p, m, n) };
            return true;
        }
    }
    let _ = (dst, accumulate);
    false
}

/// Raw views of one product (checked by [`few_rows`]).
#[derive(Clone, Copy)]
struct Product {
    dst: *mut f32,
    dst_rs: usize,
    a: *const f32,
    a_rs: usize,
    b: *const f32,
    b_rs: usize,
    k: usize,
    accumulate: bool,
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Product;
    use std::arch::x86_64::*;

    /// Lanes per vector.
    const L: usize = 8;

    /// The whole `m × n` product: rows in pairs (then one), columns in blocks of 32, then of 8,
    /// then the last `n mod 8` under a mask.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn product(p: Product, m: usize, n: usize) {
        let mut r = 0;
        while r < m {
            let q = Product {
                // SAFETY (all `add`s): row `r` and the column offsets below stay inside the views.
                dst: unsafe { p.dst.add(r * p.dst_rs) },
                a: unsafe { p.a.add(r * p.a_rs) },
                ..p
            };
            if m - r >= 2 {
                unsafe { columns::<2>(q, n) };
                r += 2;
            } else {
                unsafe { columns::<1>(q, n) };
                r += 1;
            }
        }
    }

    /// Rows `0..R`, every column.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn columns<const R: usize>(q: Product, n: usize) {
        let mut c = 0;
        while c + 4 * L <= n {
            unsafe { block::<R, 4>(q, c, None) };
            c += 4 * L;
        }
        while c + L <= n {
            unsafe { block::<R, 1>(q, c, None) };
            c += L;
        }
        if c < n {
            let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((n - c) as i32), lanes);
            unsafe { block::<R, 1>(q, c, Some(mask)) };
        }
    }

    /// Rows `0..R` × columns `c..c + 8V` (only the lanes of `mask` when given, with `V = 1`),
    /// accumulated in registers over all of `k`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize, const V: usize>(q: Product, c: usize, mask: Option<__m256i>) {
        let load = |p: *const f32| match mask {
            // SAFETY: masked lanes are not touched; the others lie inside the view.
            Some(m) => unsafe { _mm256_maskload_ps(p, m) },
            None => unsafe { _mm256_loadu_ps(p) },
        };
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for kk in 0..q.k {
            let brow = unsafe { q.b.add(kk * q.b_rs + c) };
            let mut bv = [_mm256_setzero_ps(); V];
            for (v, b) in bv.iter_mut().enumerate() {
                *b = load(unsafe { brow.add(v * L) });
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(unsafe { *q.a.add(i * q.a_rs + kk) });
                for (x, b) in row.iter_mut().zip(&bv) {
                    *x = _mm256_fmadd_ps(av, *b, *x);
                }
            }
        }
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let d = unsafe { q.dst.add(i * q.dst_rs + c + v * L) };
                let y = if q.accumulate {
                    _mm256_add_ps(*x, load(d))
                } else {
                    *x
                };
                match mask {
                    Some(m) => unsafe { _mm256_maskstore_ps(d, m, y) },
                    None => unsafe { _mm256_storeu_ps(d, y) },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`few_rows`] on a whole slice.
    #[allow(clippy::too_many_arguments)]
    fn run(
        dst: &mut [f32],
        dst_rs: usize,
        a: &[f32],
        a_rs: usize,
        b: &[f32],
        b_rs: usize,
        mkn: (usize, usize, usize),
        accumulate: bool,
    ) -> bool {
        assert!(dst.len() >= (mkn.0 - 1) * dst_rs + mkn.2);
        // SAFETY: `dst` covers the m × n view (asserted) and is a distinct, initialised slice.
        unsafe { few_rows(dst.as_mut_ptr(), dst_rs, a, a_rs, b, b_rs, mkn, accumulate) }
    }

    /// The plain triple loop.
    fn naive(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k).map(|kk| a[i * k + kk] * b[kk * n + j]).sum();
            }
        }
        out
    }

    #[test]
    fn few_rows_matches_the_triple_loop_for_every_row_and_column_remainder() {
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 25.0;
        for m in 1..=9 {
            for n in [1, 7, 8, 9, 24, 31, 45, 64, 192] {
                for k in [1, 5, 64] {
                    let a: Vec<f32> = (0..m * k).map(value).collect();
                    let b: Vec<f32> = (0..k * n).map(|i| value(i + 13)).collect();
                    let want = naive(&a, &b, (m, k, n));
                    let mut got = vec![f32::NAN; m * n];
                    if !run(&mut got, n, &a, k, &b, n, (m, k, n), false) {
                        return; // no AVX2 here: the caller uses gemm, tested elsewhere
                    }
                    let mut acc = vec![1.0; m * n];
                    assert!(run(&mut acc, n, &a, k, &b, n, (m, k, n), true));
                    for i in 0..m * n {
                        let tol = 1e-4 * (1.0 + want[i].abs());
                        assert!((got[i] - want[i]).abs() < tol, "m{m} k{k} n{n} [{i}]");
                        assert!((acc[i] - want[i] - 1.0).abs() < tol, "acc m{m} k{k} n{n}");
                    }
                }
            }
        }
    }

    #[test]
    fn few_rows_respects_row_strides() {
        // a: 3 × 2 inside rows of 4, b: 2 × 9 inside rows of 11, dst: 3 × 9 inside rows of 10.
        let a: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..22).map(|i| (i as f32) * 0.5).collect();
        let mut dst = vec![-7.0; 30];
        if !run(&mut dst, 10, &a, 4, &b, 11, (3, 2, 9), false) {
            return;
        }
        for i in 0..3 {
            for j in 0..9 {
                let want = a[i * 4] * b[j] + a[i * 4 + 1] * b[11 + j];
                assert_eq!(dst[i * 10 + j], want);
            }
            assert_eq!(dst[i * 10 + 9], -7.0, "padding column untouched");
        }
    }
}
