//! The heads of one attention step (see [`super::attention_step`]) as an AVX2 kernel, for head
//! widths that are a multiple of 8.
//!
//! The portable loop scores one key per head with a 16-wide dot product and a horizontal sum, and
//! walks the memory rows once per head and value lane. Here eight keys (or memory rows, or rows of
//! `W_k`) are scored together: eight vector accumulators, reduced into one vector of eight scores
//! by a tree of horizontal adds. The value mixes keep four independent accumulators per 8-lane
//! slice, so the chain of fused multiply-adds does not wait on its own latency. Same maths as the
//! portable loop; tested against it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::attention_step::{StepDims, StepInputs, alibi_slope, visible_from};
use super::softmax::softmax_segments;

/// Whether [`heads`] can run here: AVX2 and FMA, and heads a multiple of 8 wide.
pub(crate) fn available(d: StepDims) -> bool {
    d.h > 0
        && d.f.is_multiple_of(d.h)
        && (d.f / d.h).is_multiple_of(8)
        && super::math::has_avx2_fma()
}

/// Attention output (before the output projection) of every batch row and head into `att`
/// (`[B, F]`), from the step's query `q`, key `k_new` and value `v_new` rows (`[B, F]` each).
///
/// # Panics
/// When [`available`] is false or a buffer is shorter than `d` implies.
pub(crate) fn heads(
    d: StepDims,
    x: &StepInputs<'_>,
    q: &[f32],
    k_new: &[f32],
    v_new: &[f32],
    att: &mut [f32],
) {
    assert!(available(d), "step heads: needs AVX2, FMA and 8-lane heads");
    let (b, f, c, m) = (d.b, d.f, d.c, d.m);
    for (buf, len) in [(q, b * f), (k_new, b * f), (v_new, b * f), (&*att, b * f)] {
        assert!(buf.len() >= len, "step heads: row buffers must be [B, F]");
    }
    let covers = |len: usize, stride: usize, rows: usize| {
        b == 0 || (stride >= rows * f && len >= (b - 1) * stride + rows * f)
    };
    assert!(
        covers(x.k_cache.len(), x.k_stride, c) && covers(x.v_cache.len(), x.v_stride, c),
        "step heads: caches must hold [C, F] per batch row"
    );
    assert!(
        x.starts.len() >= b * (c + m + 1),
        "step heads: starts must be [B, P + 1]"
    );
    if m > 0 {
        assert!(
            covers(x.rows.len(), x.rows_stride, c + m),
            "step heads: rows must hold [C + M, F] per batch row"
        );
    }
    assert!(
        [x.k.w, x.v.w].iter().all(|w| w.len() >= f * f)
            && [x.k.bias, x.v.bias].iter().all(|b| b.len() >= f),
        "step heads: projections must be [F, F] and [F]"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the CPU has AVX2 and FMA (`available`); the asserts above bound every row the
    // kernel reads or writes.
    unsafe {
        avx2(d, x, q, k_new, v_new, att)
    }
}

/// Lane `k` of the result is the sum of the eight lanes of `v[k]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn hsum8(v: [__m256; 8]) -> __m256 {
    // SAFETY (whole body): register-only intrinsics; the caller's target features.
    unsafe {
        let t0 = _mm256_hadd_ps(v[0], v[1]);
        let t1 = _mm256_hadd_ps(v[2], v[3]);
        let t2 = _mm256_hadd_ps(v[4], v[5]);
        let t3 = _mm256_hadd_ps(v[6], v[7]);
        // lanes: [v0 v1 v2 v3 | same, upper halves], then the same for v4..v7
        let u0 = _mm256_hadd_ps(t0, t1);
        let u1 = _mm256_hadd_ps(t2, t3);
        let lo = _mm256_permute2f128_ps(u0, u1, 0x20);
        let hi = _mm256_permute2f128_ps(u0, u1, 0x31);
        _mm256_add_ps(lo, hi)
    }
}

/// The sum of the eight lanes of `v`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    // SAFETY: register-only intrinsics; the caller's target features.
    unsafe {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }
}

/// Dot products of the eight rows at `rows` with `u`, each `8·chunks` long, as the lanes of one
/// vector.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dots8v(rows: [*const f32; 8], u: *const f32, chunks: usize) -> __m256 {
    // SAFETY (whole body): the caller vouches for `8·chunks` readable floats at each pointer.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 8];
        for t in 0..chunks {
            let uu = _mm256_loadu_ps(u.add(8 * t));
            for r in 0..8 {
                acc[r] = _mm256_fmadd_ps(_mm256_loadu_ps(rows[r].add(8 * t)), uu, acc[r]);
            }
        }
        hsum8(acc)
    }
}

/// [`dots8v`] as an array.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dots8(rows: [*const f32; 8], u: *const f32, chunks: usize) -> [f32; 8] {
    let mut out = [0.0f32; 8];
    // SAFETY: the caller's guarantee for `dots8v`; `out` holds 8 floats.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), dots8v(rows, u, chunks)) };
    out
}

/// Dot product of `8·chunks` floats at `a` and `b`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn dot(a: *const f32, b: *const f32, chunks: usize) -> f32 {
    // SAFETY (whole body): the caller vouches for `8·chunks` readable floats at each pointer.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for t in 0..chunks {
            acc = _mm256_fmadd_ps(
                _mm256_loadu_ps(a.add(8 * t)),
                _mm256_loadu_ps(b.add(8 * t)),
                acc,
            );
        }
        hsum(acc)
    }
}

/// `Σ_j w[j] · row(j)[lane..lane + 8]` over `js`, four accumulators deep.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mix8(
    js: std::ops::Range<usize>,
    w: impl Fn(usize) -> f32,
    row: impl Fn(usize) -> *const f32,
    lane: usize,
) -> __m256 {
    // SAFETY (whole body): the caller vouches for 8 readable floats at `row(j) + lane`.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut j = js.start;
        while j + 4 <= js.end {
            for (u, a) in acc.iter_mut().enumerate() {
                let x = _mm256_loadu_ps(row(j + u).add(lane));
                *a = _mm256_fmadd_ps(_mm256_set1_ps(w(j + u)), x, *a);
            }
            j += 4;
        }
        while j < js.end {
            let x = _mm256_loadu_ps(row(j).add(lane));
            acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(w(j)), x, acc[0]);
            j += 1;
        }
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))
    }
}

/// Scores of keys `js` (rows at `key(j)`, head slice applied) against `qh` into
/// `out[j − js.start]`, as `(dot + shift) · scale − slope · dist` where the distance of key `j`
/// to the query is `dist0 − (j − js.start)` (keys in time order).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn score(
    js: std::ops::Range<usize>,
    key: impl Fn(usize) -> *const f32,
    qh: *const f32,
    chunks: usize,
    shift: f32,
    scale: f32,
    slope: f32,
    dist0: f32,
    out: &mut [f32],
) {
    let mut j = js.start;
    // SAFETY (whole body): the caller vouches for `8·chunks` floats at `key(j)` and `qh`; `out`
    // holds `js.len()` floats (each store below is checked by slicing).
    unsafe {
        let ramp = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        let (shift_v, scale_v, slope_v) = (
            _mm256_set1_ps(shift),
            _mm256_set1_ps(scale),
            _mm256_set1_ps(slope),
        );
        while j + 8 <= js.end {
            let rows = std::array::from_fn(|r| key(j + r));
            let v = dots8v(rows, qh, chunks);
            let i = j - js.start;
            let dist = _mm256_sub_ps(_mm256_set1_ps(dist0 - i as f32), ramp);
            let scaled = _mm256_mul_ps(_mm256_add_ps(v, shift_v), scale_v);
            let o = &mut out[i..i + 8];
            _mm256_storeu_ps(o.as_mut_ptr(), _mm256_fnmadd_ps(slope_v, dist, scaled));
            j += 8;
        }
        while j < js.end {
            let i = j - js.start;
            out[i] = (dot(key(j), qh, chunks) + shift) * scale - slope * (dist0 - i as f32);
            j += 1;
        }
    }
}

/// The kernel behind [`heads`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(
    d: StepDims,
    x: &StepInputs<'_>,
    q: &[f32],
    k_new: &[f32],
    v_new: &[f32],
    att: &mut [f32],
) {
    let (f, h, c, m) = (d.f, d.h, d.c, d.m);
    let dh = f / h;
    let (nt, nf) = (dh / 8, f / 8);
    let scale = 1.0 / (dh as f32).sqrt();
    // timeline: memory row j at position j, cache slot j at m + j, this step at p = m + c
    let p = m + c;
    let mut s = vec![0.0f32; p + 1];
    let (mut a, zeros) = (vec![0.0f32; p + 1], vec![0.0f32; p + 1]);
    let mut u = vec![0.0f32; f];
    let mut rbar = vec![0.0f32; f];
    for bi in 0..d.b {
        let (mem_from, cache_from) = visible_from(d, x.starts, bi);
        let row_of = |cache: &[f32], stride: usize, new: &[f32], j: usize| -> *const f32 {
            if j < c {
                cache[bi * stride + j * f..].as_ptr()
            } else {
                new[bi * f..].as_ptr()
            }
        };
        let key = |j: usize| row_of(x.k_cache, x.k_stride, k_new, j);
        let val = |j: usize| row_of(x.v_cache, x.v_stride, v_new, j);
        let rows = |j: usize| x.rows[bi * x.rows_stride + j * f..].as_ptr();
        let qrow = &q[bi * f..(bi + 1) * f];
        for hi in 0..h {
            let hs = hi * dh;
            let slope = if x.alibi { alibi_slope(hi, h) } else { 0.0 };
            let qh = qrow[hs..].as_ptr();
            // SAFETY (the block): every pointer is a row start checked by `heads` plus an offset
            // below its width; the CPU features are this function's own.
            unsafe {
                // cached steps and this one
                score(
                    cache_from..c + 1,
                    |j| key(j).add(hs),
                    qh,
                    nt,
                    0.0,
                    scale,
                    slope,
                    (c - cache_from) as f32,
                    &mut s[m + cache_from..],
                );
                // memory rows, through the key weights: u = W_k,h q_h, then r_j · u + q_h · b_k,h
                if mem_from < m {
                    for i0 in (0..f).step_by(8) {
                        let w = std::array::from_fn(|r| x.k.w[(i0 + r) * f + hs..].as_ptr());
                        u[i0..i0 + 8].copy_from_slice(&dots8(w, qh, nt));
                    }
                    let qb = dot(qh, x.k.bias[hs..].as_ptr(), nt);
                    score(
                        mem_from..m,
                        rows,
                        u.as_ptr(),
                        nf,
                        qb,
                        scale,
                        slope,
                        (p - mem_from) as f32,
                        &mut s[mem_from..],
                    );
                }
            }
            // softmax over the visible positions (the vectorised kernel of the sequence path)
            let visible = [(mem_from, m), (m + cache_from, p + 1)];
            softmax_segments(&s, &mut a, p + 1, &zeros, &[visible]);
            let asum: f32 = a[mem_from..m].iter().sum();
            let out = &mut att[bi * f + hs..bi * f + hs + dh];
            // SAFETY (the block): as above; `out` holds `dh` = 8·nt floats.
            unsafe {
                let a_cache = |j: usize| a[m + j];
                for t in 0..nt {
                    let mut acc = mix8(cache_from..c + 1, a_cache, val, hs + 8 * t);
                    if mem_from < m {
                        // Σ_j a_j V_j,h = (Σ_j a_j r_j) · W_v,h + (Σ_j a_j) b_v,h
                        if t == 0 {
                            for l in 0..nf {
                                let r = mix8(mem_from..m, |j| a[j], rows, 8 * l);
                                _mm256_storeu_ps(rbar[8 * l..].as_mut_ptr(), r);
                            }
                        }
                        let wv = |i: usize| x.v.w[i * f..].as_ptr();
                        let mixed = mix8(0..f, |i| rbar[i], wv, hs + 8 * t);
                        let bias = _mm256_loadu_ps(x.v.bias[hs + 8 * t..].as_ptr());
                        acc = _mm256_add_ps(acc, mixed);
                        acc = _mm256_fmadd_ps(_mm256_set1_ps(asum), bias, acc);
                    }
                    _mm256_storeu_ps(out[8 * t..].as_mut_ptr(), acc);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::attention_step::{Proj, heads_portable};
    use super::*;

    /// Deterministic values in [-1, 1).
    fn noise(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn avx2_heads_equal_the_portable_loop() {
        // (b, f, h, c, m): 16-wide heads with memory (GTrXL), 8- and 32-wide heads, no memory,
        // windows and memories that are not multiples of 8
        let shapes = [
            (3, 64, 4, 13, 9),
            (2, 32, 4, 8, 0),
            (2, 64, 2, 21, 16),
            (1, 16, 2, 1, 3),
        ];
        for (si, &(b, f, h, c, m)) in shapes.iter().enumerate() {
            let d = StepDims { b, f, h, c, m };
            if !available(d) {
                return; // no AVX2 here: only the portable loop runs
            }
            let p = c + m;
            let seed = si as u64 * 100;
            let (wk, wv, bk, bv) = (
                noise(f * f, seed + 1),
                noise(f * f, seed + 2),
                noise(f, seed + 3),
                noise(f, seed + 4),
            );
            let (kc, vc, rows) = (
                noise(b * c * f, seed + 5),
                noise(b * c * f, seed + 6),
                noise(b * (c + m) * f, seed + 7),
            );
            let (q, kn, vn) = (
                noise(b * f, seed + 8),
                noise(b * f, seed + 9),
                noise(b * f, seed + 10),
            );
            // episode starts: none, in the memory, in the cache, at this step
            for start_at in [None, Some(m / 2), Some(m + c / 2), Some(p)] {
                for alibi in [false, true] {
                    let mut starts = vec![0.0f32; b * (p + 1)];
                    for bi in 0..b {
                        // each batch row starts one step later than the one before
                        if let Some(s0) = start_at.map(|s| (s + bi).min(p)) {
                            starts[bi * (p + 1) + s0] = 1.0;
                        }
                    }
                    let inputs = StepInputs {
                        x: &q,
                        k_cache: &kc,
                        v_cache: &vc,
                        k_stride: c * f,
                        v_stride: c * f,
                        rows_stride: (c + m) * f,
                        starts: &starts,
                        rows: if m > 0 { &rows } else { &[] },
                        q: Proj { w: &wk, bias: &bk },
                        k: Proj { w: &wk, bias: &bk },
                        v: Proj { w: &wv, bias: &bv },
                        o: Proj { w: &wv, bias: &bv },
                        alibi,
                    };
                    let mut want = vec![0.0f32; b * f];
                    let mut got = vec![0.0f32; b * f];
                    heads_portable(d, &inputs, &q, &kn, &vn, &mut want);
                    heads(d, &inputs, &q, &kn, &vn, &mut got);
                    for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                        assert!(
                            (w - g).abs() <= 1e-5 * (1.0 + w.abs()),
                            "shape {si} start {start_at:?} alibi {alibi}: [{i}] {g} != {w}"
                        );
                    }
                }
            }
        }
    }
}
