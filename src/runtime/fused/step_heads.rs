//! The heads of one attention step (see [`super::attention_step`]) as an AVX2 kernel, for head
//! widths that are a multiple of 8 and at most 64.
//!
//! A rollout step reads, per batch row, every cached key and value row and the visible memory
//! rows: far more than the caches hold (a GTrXL actor's two layers keep ~1.3 MB for 8 rows), so
//! the order of the reads decides the speed. Everything here walks rows in storage order, each row
//! once: eight keys (or memory rows) are scored for every head before the next eight are read
//! (eight vector accumulators per head, reduced by a tree of horizontal adds), and the value mixes
//! keep all heads' accumulators side by side (up to eight independent vectors, so the chain of
//! fused multiply-adds does not wait on its own latency), with the rows a few ahead prefetched.
//! The memory rows' weighted sums for all heads (`Σ_j a_hj r_j`) are one `[H, M] · [M, F]`
//! product in the dense register tiles. Same maths as the portable loop; tested against it.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::attention_step::{StepDims, StepInputs, alibi_slope, visible_from};
#[cfg(target_arch = "x86_64")]
use super::math::{Mat, hsum, matmul_strided};
use super::softmax::softmax_segments;

/// Whether [`heads`] can run here: AVX2 and FMA, and heads a multiple of 8 and at most 64 wide.
pub(crate) fn available(d: StepDims) -> bool {
    d.h > 0
        && d.f.is_multiple_of(d.h)
        && (d.f / d.h).is_multiple_of(8)
        && d.f / d.h <= 64
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

/// Weighted sums of rows for `G` tasks of `L` 8-lane vectors each: task `g` adds
/// `w[g][j] · row(j)[lane[g] + 8l..][..8]` (`l < L`) over `js`. The `G·L ≤ 8` accumulators are
/// independent, so the multiply-adds of one row overlap; each row is read once per call.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mix_tasks<const G: usize, const L: usize>(
    js: std::ops::Range<usize>,
    width: usize,
    w: [*const f32; G],
    lane: [usize; G],
    row: impl Fn(usize) -> *const f32,
) -> [[__m256; L]; G] {
    // SAFETY (whole body): the caller vouches for `w[g]` holding index `j` and for `8·L`
    // readable floats at `row(j) + lane[g]`, for every `j` in `js`.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); L]; G];
        for j in js {
            let r = row(j);
            prefetch_ahead(r, width);
            for ((acc, w), &lane) in acc.iter_mut().zip(&w).zip(&lane) {
                let a = _mm256_broadcast_ss(&*w.add(j));
                for (l, acc) in acc.iter_mut().enumerate() {
                    *acc = _mm256_fmadd_ps(a, _mm256_loadu_ps(r.add(lane + 8 * l)), *acc);
                }
            }
        }
        acc
    }
}

/// Runs `tasks` (each `(weights, first lane)`, `per` 8-lane vectors wide, `per ≤ 8`) through
/// [`mix_tasks`] in groups of at most `8 / per`, handing each task's sums to `store`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn mix(
    js: std::ops::Range<usize>,
    width: usize,
    per: usize,
    tasks: &[(*const f32, usize)],
    row: impl Fn(usize) -> *const f32 + Copy,
    mut store: impl FnMut(usize, &[__m256]),
) {
    let group = (8 / per).max(1);
    for (gi, chunk) in tasks.chunks(group).enumerate() {
        macro_rules! run {
            ($g:literal, $l:literal) => {{
                let w = std::array::from_fn(|g| chunk[g].0);
                let lane = std::array::from_fn(|g| chunk[g].1);
                // SAFETY: the caller's guarantee for `mix_tasks`.
                let sums = unsafe { mix_tasks::<$g, $l>(js.clone(), width, w, lane, row) };
                for (g, v) in sums.iter().enumerate() {
                    store(gi * group + g, v);
                }
            }};
        }
        match (chunk.len(), per) {
            (1, 1) => run!(1, 1),
            (2, 1) => run!(2, 1),
            (3, 1) => run!(3, 1),
            (4, 1) => run!(4, 1),
            (5, 1) => run!(5, 1),
            (6, 1) => run!(6, 1),
            (7, 1) => run!(7, 1),
            (8, 1) => run!(8, 1),
            (1, 2) => run!(1, 2),
            (2, 2) => run!(2, 2),
            (3, 2) => run!(3, 2),
            (4, 2) => run!(4, 2),
            (1, 3) => run!(1, 3),
            (2, 3) => run!(2, 3),
            (1, 4) => run!(1, 4),
            (2, 4) => run!(2, 4),
            (1, 5) => run!(1, 5),
            (1, 6) => run!(1, 6),
            (1, 7) => run!(1, 7),
            (1, 8) => run!(1, 8),
            _ => unreachable!("mix: groups hold at most 8 vectors"),
        }
    }
}

/// How one set of keys is scored for every head: key `j`'s head `h` slice starts at
/// `key(j) + off[h]` and is `8·chunks` long, and head `h`'s score is
/// `(key · query[h] + shift[h]) · scale − slope[h] · dist`, with `dist` the key's distance to the
/// query (`dist0` for the first key of `js`, one less per later key).
#[cfg(target_arch = "x86_64")]
struct Scoring<'a> {
    /// Floats between consecutive key rows (for prefetching).
    width: usize,
    query: &'a [*const f32],
    off: &'a [usize],
    shift: &'a [f32],
    slope: &'a [f32],
    chunks: usize,
    scale: f32,
    dist0: f32,
}

/// Scores of keys `js` for every head into `out[h·stride + at + (j − js.start)]`: blocks of eight
/// keys, every head scoring a block before the next is read, so each key row is read once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn score_heads(
    js: std::ops::Range<usize>,
    key: impl Fn(usize) -> *const f32,
    sc: &Scoring<'_>,
    out: &mut [f32],
    (stride, at): (usize, usize),
) {
    let heads = sc.query.len();
    // SAFETY (whole body): the caller vouches for `8·chunks` floats at `key(j) + off[h]` and at
    // `query[h]`; each store below is checked by slicing `out`.
    unsafe {
        let ramp = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        let scale_v = _mm256_set1_ps(sc.scale);
        let mut j = js.start;
        while j + 8 <= js.end {
            let rows: [*const f32; 8] = std::array::from_fn(|r| key(j + r));
            for r in rows {
                prefetch_ahead(r, sc.width);
            }
            let i = j - js.start;
            let dist = _mm256_sub_ps(_mm256_set1_ps(sc.dist0 - i as f32), ramp);
            for h in 0..heads {
                let v = dots8v(rows.map(|r| r.add(sc.off[h])), sc.query[h], sc.chunks);
                let scaled = _mm256_mul_ps(_mm256_add_ps(v, _mm256_set1_ps(sc.shift[h])), scale_v);
                let o = &mut out[h * stride + at + i..h * stride + at + i + 8];
                let penalty = _mm256_mul_ps(_mm256_set1_ps(sc.slope[h]), dist);
                _mm256_storeu_ps(o.as_mut_ptr(), _mm256_sub_ps(scaled, penalty));
            }
            j += 8;
        }
        while j < js.end {
            let (r, i) = (key(j), j - js.start);
            for h in 0..heads {
                let v = dot(r.add(sc.off[h]), sc.query[h], sc.chunks);
                out[h * stride + at + i] =
                    (v + sc.shift[h]) * sc.scale - sc.slope[h] * (sc.dist0 - i as f32);
            }
            j += 1;
        }
    }
}

/// Rows ahead that [`prefetch_ahead`] asks for.
#[cfg(target_arch = "x86_64")]
const AHEAD: usize = 8;

/// Asks the cache for the row `AHEAD` rows after the one at `r` (rows `width` floats apart); a
/// hint only, so an address past the buffer is harmless.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_ahead(r: *const f32, width: usize) {
    let ahead = r.wrapping_add(AHEAD * width);
    for l in (0..width).step_by(16) {
        // SAFETY: prefetching never faults, whatever the address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(l).cast()) };
    }
}

/// Per-head buffers of [`avx2`], reused across batch rows.
#[cfg(target_arch = "x86_64")]
struct Scratch {
    /// Scores `[H, P + 1]`.
    s: Vec<f32>,
    /// Probabilities `[H, P + 1]`.
    a: Vec<f32>,
    /// Zero key bias `[P + 1]`.
    zeros: Vec<f32>,
    /// `W_k,h q_h` per head `[H, F]`.
    u: Vec<f32>,
    /// `Σ_j a_hj r_j` per head `[H, F]`.
    rbar: Vec<f32>,
}

/// The kernel behind [`heads`]. Per batch row: every head's scores over the cached steps and the
/// memory rows (key-major, so each row is read once), one softmax per head, then the value mixes
/// with all heads' accumulators side by side.
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
    let n = p + 1;
    let mut sb = Scratch {
        s: vec![0.0; h * n],
        a: vec![0.0; h * n],
        zeros: vec![0.0; n],
        u: vec![0.0; h * f],
        rbar: vec![0.0; h * f],
    };
    let slopes: Vec<f32> = (0..h)
        .map(|hi| if x.alibi { alibi_slope(hi, h) } else { 0.0 })
        .collect();
    let offs: Vec<usize> = (0..h).map(|hi| hi * dh).collect();
    let (zero_shift, zero_offs) = (vec![0.0f32; h], vec![0usize; h]);
    let (mut qb, mut asums) = (vec![0.0f32; h], vec![0.0f32; h]);
    let mut segs = vec![[(0, 0); 2]; h];
    let mut tasks: Vec<(*const f32, usize)> = Vec::with_capacity(h);
    // per-head rows of the query and of `u_h` (refilled per batch row, after `u` is written)
    let (mut q_heads, mut u_heads) = (Vec::with_capacity(h), Vec::with_capacity(h));
    for bi in 0..d.b {
        let (mem_from, cache_from) = visible_from(d, x.starts, bi);
        let row_of = |cache: &[f32], stride: usize, new: &[f32], j: usize| -> *const f32 {
            if j < c {
                cache[bi * stride + j * f..bi * stride + (j + 1) * f].as_ptr()
            } else {
                new[bi * f..(bi + 1) * f].as_ptr()
            }
        };
        let key = |j: usize| row_of(x.k_cache, x.k_stride, k_new, j);
        let val = |j: usize| row_of(x.v_cache, x.v_stride, v_new, j);
        let rows = |j: usize| x.rows[bi * x.rows_stride + j * f..][..f].as_ptr();
        let qrow = &q[bi * f..(bi + 1) * f];
        q_heads.clear();
        q_heads.extend(offs.iter().map(|&o| qrow[o..].as_ptr()));
        let memory = mem_from < m;
        // SAFETY (the block): every pointer is a row start checked by `heads` (or sliced above)
        // plus an offset below its width; the CPU features are this function's own.
        unsafe {
            // cached steps and this one, all heads
            let cache = Scoring {
                width: f,
                query: &q_heads,
                off: &offs,
                shift: &zero_shift,
                slope: &slopes,
                chunks: nt,
                scale,
                dist0: (c - cache_from) as f32,
            };
            score_heads(
                cache_from..c + 1,
                key,
                &cache,
                &mut sb.s,
                (n, m + cache_from),
            );
            if memory {
                // memory rows, through the key weights: u_h = W_k,h q_h, then r_j · u_h + q_h · b_k,h
                for (hi, &hs) in offs.iter().enumerate() {
                    for i0 in (0..f).step_by(8) {
                        let w = std::array::from_fn(|r| x.k.w[(i0 + r) * f + hs..].as_ptr());
                        let u = dots8v(w, q_heads[hi], nt);
                        _mm256_storeu_ps(sb.u[hi * f + i0..][..8].as_mut_ptr(), u);
                    }
                    qb[hi] = dot(q_heads[hi], x.k.bias[hs..hs + dh].as_ptr(), nt);
                }
                u_heads.clear();
                u_heads.extend((0..h).map(|hi| sb.u[hi * f..].as_ptr()));
                let mem = Scoring {
                    width: f,
                    query: &u_heads,
                    off: &zero_offs,
                    shift: &qb,
                    slope: &slopes,
                    chunks: nf,
                    scale,
                    dist0: (p - mem_from) as f32,
                };
                score_heads(mem_from..m, rows, &mem, &mut sb.s, (n, mem_from));
            }
        }
        // softmax over the visible positions, one row per head (the sequence path's kernel)
        let visible = [(mem_from, m), (m + cache_from, n)];
        segs.fill(visible);
        softmax_segments(&sb.s, &mut sb.a, n, &sb.zeros, &segs);
        let out = &mut att[bi * f..(bi + 1) * f];
        let a = &sb.a;
        // SAFETY (the block): as above; `a` holds `[H, P + 1]`, `rbar` `[H, F]`, `out` `F`, and
        // every task's lanes lie inside a row of `F`.
        unsafe {
            // cached steps and this one: Σ_j a_hj V_j,h, one task per head
            tasks.clear();
            tasks.extend(
                offs.iter()
                    .enumerate()
                    .map(|(hi, &hs)| (a[hi * n + m..].as_ptr(), hs)),
            );
            let store = |t: usize, v: &[__m256]| {
                for (l, &v) in v.iter().enumerate() {
                    _mm256_storeu_ps(out[offs[t] + 8 * l..][..8].as_mut_ptr(), v);
                }
            };
            mix(cache_from..c + 1, f, nt, &tasks, val, store);
            if memory {
                // Σ_j a_hj V_j,h = (Σ_j a_hj r_j) · W_v,h + (Σ_j a_hj) b_v,h; first
                // rbar_h = Σ_j a_hj r_j for every head: a dense `[H, M'] · [M', F]` product
                let mv = m - mem_from;
                let probs = Mat::strided(&a[mem_from..], h, mv, n as isize, 1);
                let at = bi * x.rows_stride + mem_from * f;
                let mem_rows = Mat::strided(&x.rows[at..], mv, f, f as isize, 1);
                matmul_strided(&mut sb.rbar, f as isize, probs, mem_rows, false, 1.0);
                // then Σ_i rbar_h[i] W_v[i, h's lanes] + asum_h b_v,h, one task per head
                for (hi, sum) in asums.iter_mut().enumerate() {
                    *sum = a[hi * n + mem_from..hi * n + m].iter().sum();
                }
                tasks.clear();
                tasks.extend(
                    offs.iter()
                        .enumerate()
                        .map(|(hi, &hs)| (sb.rbar[hi * f..].as_ptr(), hs)),
                );
                let wv = |i: usize| x.v.w[i * f..(i + 1) * f].as_ptr();
                let store = |t: usize, v: &[__m256]| {
                    let asum = _mm256_set1_ps(asums[t]);
                    for (l, &v) in v.iter().enumerate() {
                        let lane = offs[t] + 8 * l;
                        let o = out[lane..][..8].as_mut_ptr();
                        let bias = _mm256_loadu_ps(x.v.bias[lane..][..8].as_ptr());
                        let acc = _mm256_add_ps(_mm256_loadu_ps(o), v);
                        _mm256_storeu_ps(o, _mm256_fmadd_ps(asum, bias, acc));
                    }
                };
                mix(0..f, f, nt, &tasks, wv, store);
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
