//! Matrix products read in place: AVX2 register tiles that stream `b`'s rows and broadcast `a`'s
//! elements straight from where they lie, packing neither operand.
//!
//! The networks here multiply small matrices (a minibatch of 256 rows by 64 × 64 or 64 × 256
//! weights; 8 rows per rollout step). `gemm` packs both operands into panels on every call and
//! dispatches on its own cache model, which at these sizes buys nothing: the operands fit in L2
//! already. Here the columns of `b` go in blocks of at most 64 KB (all 64 columns of a `64 × 64`
//! weight at once), and each tile of 6 rows of `a` sweeps the whole block in strips of 16
//! columns, 12 accumulators held in registers over the whole inner dimension (the tile's rows of
//! `a` stay in L1 meanwhile). `a` may have any strides, so `xᵀ · dy` (a weight gradient) reads
//! `x` in place too; a `b` with unit row stride (`dy · Wᵀ`) is first transposed into a
//! thread-local buffer by 8 × 8 register transposes (`k · n` copies against `m · k · n`
//! products).
//!
//! Measured on this machine (`cargo bench --bench matmul`, each product alone and hot in cache),
//! tiles and `gemm` both reach 70–95 GFLOP/s from 64 rows on, and the tiles are 1.3–2× faster
//! with 8 rows. Inside PPO-GTrXL training, with each call choosing one of the two at random so
//! that the machine's drift cancels, the tiles took 0.93–0.95 of `gemm`'s time over all products
//! (0.86–0.93 for the `256 × 64 · 64 × 64` ones, 0.75–0.79 for a rollout step's 8 rows, 0.6–0.7
//! for an inner dimension of 2 or 4).

use super::math::{Mat, has_avx2_fma};

/// The largest inner dimension taken here: a 16-column strip of `b` then fills at most 32 KB.
const MAX_K: usize = 512;

/// `dst (+)= scale · a · b` into the `a.rows × b.cols` view of `dst` with row stride `dst_rs`.
/// Returns false (and does nothing) when the CPU lacks AVX2/FMA, `b` has no unit stride or the
/// inner dimension exceeds [`MAX_K`], so that the caller falls back to `gemm`.
///
/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads of initialised values) at
/// `i·dst_rs + j` for every `i < a.rows`, `j < b.cols`, and must not overlap `a` or `b`. Without
/// `accumulate` the destination is only written, so it may be uninitialised.
pub(crate) unsafe fn product(
    dst: *mut f32,
    dst_rs: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    accumulate: bool,
    scale: f32,
) -> bool {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "direct product: inner dimensions differ");
    if m == 0 || n == 0 || k == 0 || k > MAX_K || (b.cs != 1 && b.rs != 1) || !has_avx2_fma() {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        let run = |b_ptr: *const f32, b_rs: usize| {
            let op = Operands {
                dst,
                dst_rs,
                a: a.data.as_ptr(),
                a_rs: a.rs as usize,
                a_cs: a.cs as usize,
                b: b_ptr,
                b_rs,
                k,
                accumulate,
                scale,
            };
            // SAFETY: `Mat`'s constructors keep every index of the m × k view inside `a.data`,
            // `b_ptr` covers k rows of `b_rs ≥ n` elements, the caller vouches for `dst`, and
            // the CPU has AVX2 and FMA.
            unsafe { avx2::product(&op, m, n) }
        };
        if b.cs == 1 {
            run(b.data.as_ptr(), b.rs as usize);
        } else {
            TRANSPOSED.with(|buf| {
                let mut buf = buf.borrow_mut();
                // SAFETY: the CPU has AVX2.
                unsafe { transpose_into(&mut buf, b) };
                run(buf.as_ptr(), n);
            });
        }
        true
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("has_avx2_fma is false off x86-64")
}

/// Sets `t` to `b` row-major (`t[p·n + j] = b(p, j)`) for the `k × n` view `b` with unit row
/// stride (`b(p, j)` at `p + j·b.cs`): 8 × 8 register transposes, then the edges element by
/// element.
///
/// # Safety
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn transpose_into(t: &mut Vec<f32>, b: Mat<'_>) {
    let (k, n, cs) = (b.rows, b.cols, b.cs as usize);
    assert!(b.rs == 1, "transpose_into: needs unit row stride");
    t.clear();
    t.resize(k * n, 0.0);
    let (k8, n8) = (k / 8 * 8, n / 8 * 8);
    for j in (0..n8).step_by(8) {
        for p in (0..k8).step_by(8) {
            // SAFETY: rows j..j + 8 (at stride `cs`) and elements p..p + 8 of the view lie in
            // `b.data`; the block p..p + 8 × j..j + 8 lies in `t`.
            unsafe {
                super::math::transpose8::<1>(
                    b.data.as_ptr().add(j * cs + p),
                    cs,
                    t.as_mut_ptr().add(p * n + j),
                    n,
                )
            };
        }
    }
    for j in 0..n {
        let from = if j < n8 { k8 } else { 0 };
        for p in from..k {
            t[p * n + j] = b.data[p + j * cs];
        }
    }
}

thread_local! {
    /// `b` copied row-major when it arrives transposed (a gradient's `dy · Wᵀ`).
    static TRANSPOSED: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Raw views of one product (checked by [`product`]): `a(i, p)` at `i·a_rs + p·a_cs`, `b(p, j)`
/// at `p·b_rs + j`, `dst(i, j)` at `i·dst_rs + j`.
#[derive(Clone, Copy)]
struct Operands {
    dst: *mut f32,
    dst_rs: usize,
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    b: *const f32,
    b_rs: usize,
    k: usize,
    accumulate: bool,
    scale: f32,
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::math::lane_mask;
    use super::Operands;
    use std::arch::x86_64::*;

    /// Lanes per vector.
    const L: usize = 8;

    /// Floats of `b` one column block may hold (64 KB: it stays in L2 while every row tile of
    /// `a` passes over it).
    const BLOCK_FLOATS: usize = 16384;

    /// The whole `m × n` product: column blocks of `b` of at most [`BLOCK_FLOATS`], each swept
    /// by tiles of 6 rows of `a` (a tile's rows of `a` stay in L1 while it passes over the
    /// block's columns).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn product(op: &Operands, m: usize, n: usize) {
        let width = (BLOCK_FLOATS / op.k / (2 * L) * (2 * L)).max(2 * L);
        let mut c0 = 0;
        while c0 < n {
            let c1 = (c0 + width).min(n);
            let mut r = 0;
            // SAFETY (every call): rows r..r + R and columns c0..c1 lie inside the views.
            while r + 6 <= m {
                unsafe { columns::<6>(op, r, c0, c1) };
                r += 6;
            }
            unsafe {
                match m - r {
                    0 => {}
                    1 => columns::<1>(op, r, c0, c1),
                    2 => columns::<2>(op, r, c0, c1),
                    3 => columns::<3>(op, r, c0, c1),
                    4 => columns::<4>(op, r, c0, c1),
                    _ => columns::<5>(op, r, c0, c1),
                }
            }
            c0 = c1;
        }
    }

    /// Rows `r..r + R` × columns `c0..c1`: blocks of 16 columns (of 32 for one or two rows, so
    /// that 8 accumulators hide the latency of the multiply-adds), then of 8, then the last
    /// `(c1 − c0) mod 8` under a mask.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn columns<const R: usize>(op: &Operands, r: usize, c0: usize, c1: usize) {
        let full = _mm256_set1_epi32(-1);
        let mut c = c0;
        // SAFETY (every call): columns c..c + 8V (masked lanes excepted) lie inside c0..c1.
        if R <= 2 {
            while c + 4 * L <= c1 {
                unsafe { tile::<R, 4, false>(op, r, c, full) };
                c += 4 * L;
            }
        }
        while c + 2 * L <= c1 {
            unsafe { tile::<R, 2, false>(op, r, c, full) };
            c += 2 * L;
        }
        while c + L <= c1 {
            unsafe { tile::<R, 1, false>(op, r, c, full) };
            c += L;
        }
        if c < c1 {
            unsafe { tile::<R, 1, true>(op, r, c, lane_mask(c1 - c)) };
        }
    }

    /// Rows `r..r + R` × columns `c..c + 8V` (the last vector's lanes under `mask` when
    /// `MASKED`), accumulated in registers over the whole inner dimension.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile<const R: usize, const V: usize, const MASKED: bool>(
        op: &Operands,
        r: usize,
        c: usize,
        mask: __m256i,
    ) {
        // SAFETY (every pointer below): rows r..r + R of `a` and `dst`, rows 0..k of `b` and
        // columns c..c + 8V (the masked lanes untouched) lie inside the views `product` checked.
        let load = |p: *const f32, last: bool| unsafe {
            if MASKED && last {
                _mm256_maskload_ps(p, mask)
            } else {
                _mm256_loadu_ps(p)
            }
        };
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        let mut a = unsafe { op.a.add(r * op.a_rs) };
        let mut b = unsafe { op.b.add(c) };
        for _ in 0..op.k {
            let mut bv = [_mm256_setzero_ps(); V];
            for (v, x) in bv.iter_mut().enumerate() {
                *x = load(unsafe { b.add(v * L) }, v + 1 == V);
            }
            for (i, row) in acc.iter_mut().enumerate() {
                let av = _mm256_set1_ps(unsafe { *a.add(i * op.a_rs) });
                for (x, y) in row.iter_mut().zip(&bv) {
                    *x = _mm256_fmadd_ps(av, *y, *x);
                }
            }
            a = unsafe { a.add(op.a_cs) };
            b = unsafe { b.add(op.b_rs) };
        }
        let scale = _mm256_set1_ps(op.scale);
        for (i, row) in acc.iter().enumerate() {
            for (v, x) in row.iter().enumerate() {
                let last = v + 1 == V;
                let d = unsafe { op.dst.add((r + i) * op.dst_rs + c + v * L) };
                let mut y = if op.scale == 1.0 {
                    *x
                } else {
                    _mm256_mul_ps(*x, scale)
                };
                if op.accumulate {
                    y = _mm256_add_ps(y, load(d, last));
                }
                if MASKED && last {
                    unsafe { _mm256_maskstore_ps(d, mask, y) };
                } else {
                    unsafe { _mm256_storeu_ps(d, y) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain triple loop over views.
    fn naive(a: Mat<'_>, b: Mat<'_>) -> Vec<f32> {
        let at = |m: &Mat<'_>, i: usize, j: usize| m.data[i * m.rs as usize + j * m.cs as usize];
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                out[i * b.cols + j] = (0..a.cols).map(|p| at(&a, i, p) * at(&b, p, j)).sum();
            }
        }
        out
    }

    fn value(i: usize) -> f32 {
        ((i * 37 % 101) as f32 - 50.0) / 25.0
    }

    #[test]
    fn direct_product_matches_the_triple_loop_for_every_layout_and_remainder() {
        for m in [1, 2, 3, 5, 6, 7, 8, 13, 64] {
            for n in [1, 7, 8, 9, 16, 24, 31, 45, 64] {
                for k in [1, 5, 64] {
                    let a_data: Vec<f32> = (0..m * k).map(value).collect();
                    let b_data: Vec<f32> = (0..k * n).map(|i| value(i + 13)).collect();
                    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                        let a = if ta {
                            Mat::strided(&a_data, m, k, 1, m as isize)
                        } else {
                            Mat::strided(&a_data, m, k, k as isize, 1)
                        };
                        let b = if tb {
                            Mat::strided(&b_data, k, n, 1, k as isize)
                        } else {
                            Mat::strided(&b_data, k, n, n as isize, 1)
                        };
                        let want = naive(a, b);
                        let mut got = vec![f32::NAN; m * n];
                        // SAFETY: `got` holds the m × n result.
                        if !unsafe { product(got.as_mut_ptr(), n, a, b, false, 1.0) } {
                            return; // no AVX2 here: the caller uses gemm, tested elsewhere
                        }
                        let mut acc = vec![1.0; m * n];
                        // SAFETY: as above.
                        assert!(unsafe { product(acc.as_mut_ptr(), n, a, b, true, 0.5) });
                        for i in 0..m * n {
                            let tol = 1e-4 * (1.0 + want[i].abs());
                            let case = format!("m{m} k{k} n{n} ta{ta} tb{tb} [{i}]");
                            assert!((got[i] - want[i]).abs() < tol, "{case}");
                            assert!((acc[i] - 0.5 * want[i] - 1.0).abs() < tol, "acc {case}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn direct_product_respects_row_strides_and_leaves_padding_alone() {
        // a: 3 × 2 inside rows of 4, b: 2 × 9 inside rows of 11, dst: 3 × 9 inside rows of 10.
        let a: Vec<f32> = (0..12).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..22).map(|i| (i as f32) * 0.5).collect();
        let mut dst = vec![-7.0; 30];
        let (av, bv) = (Mat::strided(&a, 3, 2, 4, 1), Mat::strided(&b, 2, 9, 11, 1));
        // SAFETY: `dst` holds 3 rows of 10.
        if !unsafe { product(dst.as_mut_ptr(), 10, av, bv, false, 1.0) } {
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

    #[test]
    fn direct_product_declines_what_gemm_should_take() {
        let a = vec![1.0; 2 * (MAX_K + 1)];
        let b = vec![1.0; (MAX_K + 1) * 8];
        let mut dst = vec![0.0; 16];
        let long = Mat::strided(&a, 2, MAX_K + 1, (MAX_K + 1) as isize, 1);
        let b_long = Mat::strided(&b, MAX_K + 1, 8, 8, 1);
        // SAFETY: `dst` holds 2 rows of 8; nothing is written when declined.
        assert!(!unsafe { product(dst.as_mut_ptr(), 8, long, b_long, false, 1.0) });
        let b_strided = Mat::strided(&b, 4, 4, 16, 2);
        let small = Mat::strided(&a, 2, 4, 4, 1);
        // SAFETY: as above.
        assert!(!unsafe { product(dst.as_mut_ptr(), 8, small, b_strided, false, 1.0) });
        assert_eq!(dst, vec![0.0; 16]);
    }
}
