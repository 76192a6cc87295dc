//! AVX2 + FMA register tiles of the attention products for head widths `D = 8·NV` (`NV` = 1 to
//! 4), the shapes of attention in this crate: a few query rows against a few hundred keys, with
//! an inner dimension of 8 to 32.
//!
//! - [`scores`]: `α · A Bᵀ` for `R` rows of `A` (queries, or `dO`) against a run of keys, with
//!   `Bᵀ` the head's keys (or values) transposed once per call to `[D, L]`.
//! - [`rows_times`]: `α · P X` for `R` rows of `P` (probabilities, or `dS`) over runs of key rows
//!   `X` read where they lie (any row stride), written to the output rows.
//! - [`cols`]: `out += α · Pᵀ A` for `C` key columns over a range of rows, accumulated into the
//!   key rows where they lie (`dK`, `dV`).
//!
//! Each tile keeps its accumulators in registers for its whole inner loop and touches its output
//! once. The `gemm` crate, at these sizes, spent as much time dispatching and on edge tiles as
//! in its micro-kernel, and a product could only follow a whole query block's key columns,
//! where these tiles follow each group of 4 rows ([`super::plan::GROUP`]).

use std::arch::x86_64::*;

use super::super::math::lane_mask as tail;

/// Lanes per vector.
const L: usize = 8;

/// `s[r·lds + c] = α · Σ_d a[r·ars + d] · bt[d·ldb + c]` for `r < R`, `c < n`, `d < 8·NV`.
///
/// # Safety
/// AVX2 and FMA; `a` readable at `r·ars + d`, `bt` at `d·ldb + c`, `s` writable at `r·lds + c`
/// for every `r`, `d`, `c` above; `s` overlaps neither.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn scores<const R: usize, const NV: usize>(
    a: *const f32,
    ars: usize,
    bt: *const f32,
    ldb: usize,
    s: *mut f32,
    lds: usize,
    n: usize,
    alpha: f32,
) {
    let al = _mm256_set1_ps(alpha);
    let mut c = 0;
    // SAFETY (all pointer arithmetic and accesses below): inside the views of the contract.
    unsafe {
        // R rows × 16 columns: 2·R accumulators (4 rows × 24 columns, 12 accumulators, spilled
        // one to the stack)
        while c + 2 * L <= n {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for d in 0..L * NV {
                let row = bt.add(d * ldb + c);
                let b = [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(L))];
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*a.add(r * ars + d));
                    for v in 0..2 {
                        acc[v] = _mm256_fmadd_ps(x, b[v], acc[v]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                for (v, &x) in acc.iter().enumerate() {
                    _mm256_storeu_ps(s.add(r * lds + c + v * L), _mm256_mul_ps(al, x));
                }
            }
            c += 2 * L;
        }
        while c < n {
            let mask = tail((n - c).min(L));
            let full = n - c >= L;
            let mut acc = [_mm256_setzero_ps(); R];
            for d in 0..L * NV {
                let row = bt.add(d * ldb + c);
                let b = if full {
                    _mm256_loadu_ps(row)
                } else {
                    _mm256_maskload_ps(row, mask)
                };
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*a.add(r * ars + d));
                    *acc = _mm256_fmadd_ps(x, b, *acc);
                }
            }
            for (r, &x) in acc.iter().enumerate() {
                let out = s.add(r * lds + c);
                if full {
                    _mm256_storeu_ps(out, _mm256_mul_ps(al, x));
                } else {
                    _mm256_maskstore_ps(out, mask, _mm256_mul_ps(al, x));
                }
            }
            c += L;
        }
    }
}

/// A run of key rows for [`rows_times`]: columns `c .. c + len` of `p` stand for the rows
/// `x + j·rs` (`j < len`, each `D` values).
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyRows {
    /// First column of the run in `p`.
    pub(super) c: usize,
    /// First key row.
    pub(super) x: *const f32,
    /// Stride between key rows.
    pub(super) rs: usize,
    /// Keys in the run.
    pub(super) len: usize,
}

/// `out[r·ors + e] = α · Σ_runs Σ_j p[r·ldp + run.c + j] · run.x[j·run.rs + e]` for `r < R`,
/// `e < 8·NV`: rows of probabilities (or `dS`) times the key rows (values, or keys) they weight.
///
/// # Safety
/// AVX2 and FMA; `p` readable at `r·ldp + c` for every run's columns, each run's rows readable,
/// `out` writable at `r·ors + e` and overlapping none of them.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn rows_times<const R: usize, const NV: usize>(
    p: *const f32,
    ldp: usize,
    runs: &[KeyRows],
    out: *mut f32,
    ors: usize,
    alpha: f32,
) {
    let mut acc = [[_mm256_setzero_ps(); NV]; R];
    // SAFETY (all pointer arithmetic and accesses below): inside the views of the contract.
    unsafe {
        for run in runs {
            let pc = p.add(run.c);
            for j in 0..run.len {
                let row = run.x.add(j * run.rs);
                let mut x = [_mm256_setzero_ps(); NV];
                for (v, x) in x.iter_mut().enumerate() {
                    *x = _mm256_loadu_ps(row.add(v * L));
                }
                for (r, acc) in acc.iter_mut().enumerate() {
                    let w = _mm256_broadcast_ss(&*pc.add(r * ldp + j));
                    for v in 0..NV {
                        acc[v] = _mm256_fmadd_ps(w, x[v], acc[v]);
                    }
                }
            }
        }
        let al = _mm256_set1_ps(alpha);
        for (r, acc) in acc.iter().enumerate() {
            for (v, &x) in acc.iter().enumerate() {
                _mm256_storeu_ps(out.add(r * ors + v * L), _mm256_mul_ps(al, x));
            }
        }
    }
}

/// `out[j·ors + e] += α · Σ_{r < m} p[r·ldp + j] · a[r·ars + e]` for `j < C`, `e < 8·NV`: the
/// contribution of `m` rows to `C` key rows (`dK = α dSᵀ Q`, `dV = Pᵀ dO`).
///
/// # Safety
/// AVX2 and FMA; `p` readable at `r·ldp + j`, `a` at `r·ars + e`, `out` readable and writable
/// at `j·ors + e`, overlapping neither.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn cols<const C: usize, const NV: usize>(
    p: *const f32,
    ldp: usize,
    a: *const f32,
    ars: usize,
    m: usize,
    out: *mut f32,
    ors: usize,
    alpha: f32,
) {
    let mut acc = [[_mm256_setzero_ps(); NV]; C];
    // SAFETY (all pointer arithmetic and accesses below): inside the views of the contract.
    unsafe {
        for r in 0..m {
            let row = a.add(r * ars);
            let mut x = [_mm256_setzero_ps(); NV];
            for (v, x) in x.iter_mut().enumerate() {
                *x = _mm256_loadu_ps(row.add(v * L));
            }
            let pr = p.add(r * ldp);
            for (j, acc) in acc.iter_mut().enumerate() {
                let w = _mm256_broadcast_ss(&*pr.add(j));
                for v in 0..NV {
                    acc[v] = _mm256_fmadd_ps(w, x[v], acc[v]);
                }
            }
        }
        let al = _mm256_set1_ps(alpha);
        for (j, acc) in acc.iter().enumerate() {
            for (v, &x) in acc.iter().enumerate() {
                let o = out.add(j * ors + v * L);
                _mm256_storeu_ps(o, _mm256_fmadd_ps(al, x, _mm256_loadu_ps(o)));
            }
        }
    }
}
