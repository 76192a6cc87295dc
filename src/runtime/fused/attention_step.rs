//! One step of multi-head attention, optionally with segment memory, on the host (inference).
//!
//! Rollouts run attention one step at a time. As tensor ops every step concatenates and narrows
//! the K/V caches and the memory rows (copying every cached row) and projects the `M` visible
//! memory rows through K and V again. This step reads the caches where they are and never
//! projects the memory rows: with `K_j = r_j·W_k + b_k`, head `h` scores
//! `q_h·K_j,h = r_j·(W_k,h q_h) + q_h·b_k,h`, and its value mix is
//! `Σ_j a_j V_j,h = (Σ_j a_j r_j)·W_v,h + (Σ_j a_j) b_v,h`: two matrix-vector products with the
//! weights per head instead of `2·M` row projections. Training keeps the differentiable sequence
//! path; the two compute the same function (tested in `runtime::attention`).

use super::math::{self, Mat, row_dot as dot, simd_entry};

/// Sizes of one step: batch `b`, width `f`, heads `h`, window `c`, memory rows `m` (0 without
/// segment memory).
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepDims {
    /// Batch rows.
    pub b: usize,
    /// Width `F`.
    pub f: usize,
    /// Heads.
    pub h: usize,
    /// Window `C` (cached steps).
    pub c: usize,
    /// Visible memory rows `M` (0 without memory).
    pub m: usize,
}

/// A linear projection `x·w + bias` with `w` row-major `[F, F]` (in → out).
#[derive(Clone, Copy)]
pub(crate) struct Proj<'a> {
    /// Weight `[F, F]`.
    pub w: &'a [f32],
    /// Bias `[F]`.
    pub bias: &'a [f32],
}

impl Proj<'_> {
    /// `x·w + bias` for the `[B, F]` rows of `x`.
    fn apply(&self, x: &[f32], rows: usize, f: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * f);
        for _ in 0..rows {
            out.extend_from_slice(self.bias);
        }
        math::matmul(
            &mut out,
            Mat::rows(x, rows, f),
            Mat::rows(self.w, f, f),
            true,
        );
        out
    }
}

/// The step's inputs; caches are read in place.
pub(crate) struct StepInputs<'a> {
    /// Input rows `[B, F]`.
    pub x: &'a [f32],
    /// Projected keys of the last `C` steps: batch row `b`'s `[C, F]` at `b · k_stride`.
    pub k_cache: &'a [f32],
    /// Projected values of the last `C` steps: batch row `b`'s `[C, F]` at `b · v_stride`.
    pub v_cache: &'a [f32],
    /// Distance between batch rows of `k_cache` (`C·F` when packed).
    pub k_stride: usize,
    /// Distance between batch rows of `v_cache`.
    pub v_stride: usize,
    /// Start flags of the timeline `[B, P + 1]`: the `P` remembered steps (`C + M` memory rows
    /// with memory, else the `C` cached steps), then this step.
    pub starts: &'a [f32],
    /// Memory rows: batch row `b`'s `[C + M, F]` at `b · rows_stride` (the first `M` are visible
    /// to this step); empty without memory.
    pub rows: &'a [f32],
    /// Distance between batch rows of `rows` (`(C + M)·F` when packed).
    pub rows_stride: usize,
    /// Query, key, value and output projections.
    pub q: Proj<'a>,
    /// Key projection.
    pub k: Proj<'a>,
    /// Value projection.
    pub v: Proj<'a>,
    /// Output projection.
    pub o: Proj<'a>,
    /// ALiBi distance penalties.
    pub alibi: bool,
}

/// What one step produces.
pub(crate) struct StepOut {
    /// Output rows `[B, F]` (after the output projection).
    pub y: Vec<f32>,
    /// This step's projected key `[B, F]` (to append to the cache).
    pub k: Vec<f32>,
    /// This step's projected value `[B, F]`.
    pub v: Vec<f32>,
}

/// Attention output of one step for every batch row.
pub(crate) fn attention_step(d: StepDims, x: &StepInputs<'_>) -> StepOut {
    let (b, f) = (d.b, d.f);
    assert!(
        d.h > 0 && f % d.h == 0,
        "attention step: width not divisible by heads"
    );
    assert_eq!(x.x.len(), b * f, "attention step: input must be [B, F]");
    let covers = |len: usize, stride: usize, rows: usize| {
        b == 0 || (stride >= rows * f && len >= (b - 1) * stride + rows * f)
    };
    assert!(
        covers(x.k_cache.len(), x.k_stride, d.c) && covers(x.v_cache.len(), x.v_stride, d.c),
        "attention step: caches must hold [C, F] per batch row"
    );
    // remembered steps: `C + M` memory rows with memory, else the `C` cached steps
    let p = d.c + d.m;
    assert_eq!(
        x.starts.len(),
        b * (p + 1),
        "attention step: starts must be [B, P + 1]"
    );
    if d.m > 0 {
        assert!(
            covers(x.rows.len(), x.rows_stride, d.c + d.m),
            "attention step: rows must hold [C + M, F] per batch row"
        );
    }
    let q = x.q.apply(x.x, b, f);
    let k = x.k.apply(x.x, b, f);
    let v = x.v.apply(x.x, b, f);
    let mut att = vec![0.0f32; b * f];
    if super::step_heads::available(d) {
        super::step_heads::heads(d, x, &q, &k, &v, &mut att);
    } else {
        heads_portable(d, x, &q, &k, &v, &mut att);
    }
    let y = x.o.apply(&att, b, f);
    StepOut { y, k, v }
}

simd_entry! {
    /// The heads of one step, portable (auto-vectorised where AVX2 is present).
    pub(crate) fn heads_portable(
        d: StepDims,
        x: &StepInputs<'_>,
        q: &[f32],
        k_new: &[f32],
        v_new: &[f32],
        att: &mut [f32],
    ) => heads_impl
}

/// Per batch row and head: scores over [memory rows | cache | this step], softmax, value mix.
#[inline(always)]
fn heads_impl(
    d: StepDims,
    x: &StepInputs<'_>,
    q: &[f32],
    k_new: &[f32],
    v_new: &[f32],
    att: &mut [f32],
) {
    let (f, h, c, m) = (d.f, d.h, d.c, d.m);
    let dh = f / h;
    let scale = 1.0 / (dh as f32).sqrt();
    // timeline: memory row j at position j, cache slot j at m + j, this step at p = m + c
    let p = m + c;
    let mut s = vec![0.0f32; m + c + 1];
    let mut u = vec![0.0f32; f];
    let mut rbar = vec![0.0f32; f];
    for bi in 0..d.b {
        let (mem_from, cache_from) = visible_from(d, x.starts, bi);
        let rows = if m > 0 {
            &x.rows[bi * x.rows_stride..bi * x.rows_stride + m * f]
        } else {
            &[][..]
        };
        for hi in 0..h {
            let slope = if x.alibi { alibi_slope(hi, h) } else { 0.0 };
            let hs = hi * dh;
            let qh = &q[bi * f + hs..bi * f + hs + dh];
            let mut max = f32::NEG_INFINITY;
            // memory rows, through the key weights
            if mem_from < m {
                for (i, ui) in u.iter_mut().enumerate() {
                    *ui = dot(&x.k.w[i * f + hs..i * f + hs + dh], qh);
                }
                let qb = dot(qh, &x.k.bias[hs..hs + dh]);
                for j in mem_from..m {
                    let sj =
                        (dot(&rows[j * f..(j + 1) * f], &u) + qb) * scale - slope * (p - j) as f32;
                    s[j] = sj;
                    max = max.max(sj);
                }
            }
            // cached steps and this one
            for j in cache_from..=c {
                let key = if j < c {
                    &x.k_cache[bi * x.k_stride + j * f + hs..bi * x.k_stride + j * f + hs + dh]
                } else {
                    &k_new[bi * f + hs..bi * f + hs + dh]
                };
                let sj = dot(qh, key) * scale - slope * (c - j) as f32;
                s[m + j] = sj;
                max = max.max(sj);
            }
            let mut sum = 0.0f32;
            for j in (mem_from..m).chain(m + cache_from..=p) {
                s[j] = math::exp(s[j] - max);
                sum += s[j];
            }
            let inv = 1.0 / sum;
            let out = &mut att[bi * f + hs..bi * f + hs + dh];
            out.fill(0.0);
            for j in cache_from..=c {
                let a = s[m + j] * inv;
                let val = if j < c {
                    &x.v_cache[bi * x.v_stride + j * f + hs..bi * x.v_stride + j * f + hs + dh]
                } else {
                    &v_new[bi * f + hs..bi * f + hs + dh]
                };
                for (o, vv) in out.iter_mut().zip(val) {
                    *o += a * vv;
                }
            }
            if mem_from < m {
                rbar.fill(0.0);
                let mut asum = 0.0f32;
                for j in mem_from..m {
                    let a = s[j] * inv;
                    asum += a;
                    for (r, rv) in rbar.iter_mut().zip(&rows[j * f..(j + 1) * f]) {
                        *r += a * rv;
                    }
                }
                for (i, &ri) in rbar.iter().enumerate() {
                    let w = &x.v.w[i * f + hs..i * f + hs + dh];
                    for (o, wv) in out.iter_mut().zip(w) {
                        *o += ri * wv;
                    }
                }
                for (o, bv) in out.iter_mut().zip(&x.v.bias[hs..hs + dh]) {
                    *o += asum * bv;
                }
            }
        }
    }
}

/// Where batch row `bi`'s visible keys begin on its timeline (`starts`: `[B, M + C + 1]`):
/// `(first visible memory row, first visible cache slot)`. Keys before the last episode start
/// (inclusive) belong to other episodes.
pub(crate) fn visible_from(d: StepDims, starts: &[f32], bi: usize) -> (usize, usize) {
    let p = d.m + d.c;
    let tl = &starts[bi * (p + 1)..(bi + 1) * (p + 1)];
    let first = (0..=p).rev().find(|&j| tl[j] > 0.5).unwrap_or(0);
    (first.min(d.m), first.saturating_sub(d.m))
}

/// ALiBi's distance penalty per step for head `hi` of `heads`: `2^(−8 (hi + 1) / heads)`.
pub(crate) fn alibi_slope(hi: usize, heads: usize) -> f32 {
    2f32.powf(-8.0 * (hi + 1) as f32 / heads as f32)
}
