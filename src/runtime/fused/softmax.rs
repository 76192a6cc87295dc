//! Fused softmax over the last dimension, as one custom op with a hand-written backward.
//!
//! Attention masks push scores to large negative values; libm's `expf` takes a slow path
//! (errno, underflow handling) for every such element, which made the masked softmax the top
//! entry of the attention profile. Here the exponential is the branch-free [`super::math::exp`]
//! (inputs clamped to its finite range), vectorised, and the backward is one pass:
//! `dx = y ⊙ (dy − Σ dy ⊙ y)`.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor};

use super::math::{exp, row_dot, row_max, row_sum, simd_entry};
use super::{map_grad, map_values};

#[inline(always)]
fn softmax_rows_impl(x: &[f32], y: &mut [f32], n: usize) {
    for (xr, yr) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let max = row_max(xr);
        for (o, &v) in yr.iter_mut().zip(xr) {
            *o = exp(v - max);
        }
        let inv = 1.0 / row_sum(yr);
        for o in yr.iter_mut() {
            *o *= inv;
        }
    }
}

#[inline(always)]
fn softmax_grad_rows_impl(y: &[f32], dy: &mut [f32], n: usize) {
    for (yr, gr) in y.chunks_exact(n).zip(dy.chunks_exact_mut(n)) {
        let dot = row_dot(yr, gr);
        for (g, &yv) in gr.iter_mut().zip(yr) {
            *g = yv * (*g - dot);
        }
    }
}

#[inline(always)]
fn softmax_grad_window_impl(
    y: &[f32],
    dy: &mut [f32],
    n: usize,
    segs: &[Segments],
    union: &[(usize, usize)],
) {
    for ((yr, gr), seg) in y.chunks_exact(n).zip(dy.chunks_exact_mut(n)).zip(segs) {
        let mut dot = 0.0;
        for &(a, b) in seg {
            dot += row_dot(&yr[a..b], &gr[a..b]);
        }
        let mut gap = 0;
        for &(a, b) in union {
            gr[gap..a].fill(0.0);
            for (g, &yv) in gr[a..b].iter_mut().zip(&yr[a..b]) {
                *g = yv * (*g - dot);
            }
            gap = b;
        }
        gr[gap..].fill(0.0);
    }
}

simd_entry!(
    /// The softmax backward for rows of `n` probabilities `y` that are 0 outside each row's
    /// visible `segs`, where `dy` holds `dL/dy` only on the columns `union` (ascending, covering
    /// every row's segments; elsewhere it may hold anything): `dy ← y ⊙ (dy − Σ_segs dy ⊙ y)` on
    /// `union`, 0 everywhere else.
    pub(crate) fn softmax_grad_window(
        y: &[f32],
        dy: &mut [f32],
        n: usize,
        segs: &[Segments],
        union: &[(usize, usize)],
    ) => softmax_grad_window_impl
);

/// Visible column segments `[a, b)` of one row (an empty segment is `(0, 0)`).
pub(crate) type Segments = [(usize, usize); 2];

#[inline(always)]
fn softmax_segments_impl(s: &[f32], p: &mut [f32], n: usize, kb: &[f32], segs: &[Segments]) {
    for ((sr, pr), seg) in s.chunks_exact(n).zip(p.chunks_exact_mut(n)).zip(segs) {
        let mut max = f32::NEG_INFINITY;
        for &(a, b) in seg {
            for ((o, &v), &k) in pr[a..b].iter_mut().zip(&sr[a..b]).zip(&kb[a..b]) {
                *o = v + k;
            }
            max = max.max(row_max(&pr[a..b]));
        }
        let mut sum = 0.0;
        for &(a, b) in seg {
            for o in &mut pr[a..b] {
                *o = exp(*o - max);
            }
            sum += row_sum(&pr[a..b]);
        }
        let inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        let mut gap = 0;
        for &(a, b) in seg {
            if a == b {
                continue;
            }
            pr[gap..a].fill(0.0);
            for o in &mut pr[a..b] {
                *o *= inv;
            }
            gap = b;
        }
        pr[gap..].fill(0.0);
    }
}

simd_entry!(
    /// [`softmax_segments`] as portable code (the fallback without AVX2 and FMA, and the oracle
    /// of the AVX2 kernel's test).
    fn softmax_segments_portable(s: &[f32], p: &mut [f32], n: usize, kb: &[f32], segs: &[Segments]) => softmax_segments_impl
);

/// Row-wise softmax of `s + kb` (rows of length `n`, `kb` one additive bias per column) over
/// each row's visible `segs` (ascending, non-overlapping, within `n`); every other column of `p`
/// is 0. Rows: as many as `s`, `p` and `segs` all hold.
pub(crate) fn softmax_segments(s: &[f32], p: &mut [f32], n: usize, kb: &[f32], segs: &[Segments]) {
    #[cfg(target_arch = "x86_64")]
    if super::math::has_avx2_fma() {
        assert!(kb.len() >= n, "softmax_segments: one bias per column");
        assert!(
            segs.iter().flatten().all(|&(a, b)| a <= b && b <= n),
            "softmax_segments: segments within the row"
        );
        // SAFETY: the CPU has AVX2 and FMA; every segment lies inside its row (asserted), and
        // rows are whole chunks of `s` and `p`.
        unsafe { avx2::segments(s, p, n, kb, segs) };
        return;
    }
    softmax_segments_portable(s, p, n, kb, segs)
}

/// [`softmax_segments`] in AVX2 intrinsics: the exponential of [`super::math::exp`] with fused
/// multiply-adds, and each segment's last partial vector under a mask, so that short segments
/// (a window cut by an episode start) stay vectorised. Autovectorised, the softmax was the
/// largest attention cost after the products once GTrXL's windows were full.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::super::math::lane_mask as tail;
    use super::Segments;
    use std::arch::x86_64::*;

    /// Lanes per vector.
    const L: usize = 8;

    /// `exp` per lane, as `super::super::math::exp` (clamped to f32's finite range).
    #[inline(always)]
    fn exp(x: __m256) -> __m256 {
        // SAFETY: plain register arithmetic (the caller runs with AVX2 and FMA).
        unsafe {
            let c = _mm256_set1_ps;
            let x = _mm256_min_ps(_mm256_max_ps(x, c(-87.0)), c(88.0));
            const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
            let n = _mm256_round_ps::<NEAREST>(_mm256_mul_ps(x, c(std::f32::consts::LOG2_E)));
            let r = _mm256_fnmadd_ps(n, c(0.693_359_4), x);
            let r = _mm256_fnmadd_ps(n, c(-2.121_944_4e-4), r);
            let mut p = c(1.987_569_1e-4);
            for k in [
                1.398_199_9e-3,
                8.333_452e-3,
                4.166_579_6e-2,
                0.166_666_65,
                0.5,
            ] {
                p = _mm256_fmadd_ps(p, r, c(k));
            }
            let e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), c(1.0));
            let bits = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
            _mm256_mul_ps(e, _mm256_castsi256_ps(_mm256_slli_epi32::<23>(bits)))
        }
    }

    /// Largest lane.
    #[inline(always)]
    fn hmax(v: __m256) -> f32 {
        // SAFETY: plain register arithmetic (the caller runs with AVX2).
        unsafe {
            let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
            _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m)))
        }
    }

    /// Calls `f(j, mask)` over `a..b` in vectors from `a`: `mask` is `None` for whole vectors and
    /// the lanes inside `b` for the last partial one.
    #[inline(always)]
    fn vectors((a, b): (usize, usize), mut f: impl FnMut(usize, Option<__m256i>)) {
        let mut j = a;
        while j + L <= b {
            f(j, None);
            j += L;
        }
        if j < b {
            f(j, Some(tail(b - j)));
        }
    }

    /// See `super::softmax_segments`.
    ///
    /// # Safety
    /// AVX2 and FMA are present, `kb` holds `n` values and every segment `(a, b)` has
    /// `a <= b <= n`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn segments(
        s: &[f32],
        p: &mut [f32],
        n: usize,
        kb: &[f32],
        segs: &[Segments],
    ) {
        // SAFETY (every load and store below): `j` and its lanes (all 8, or those of the mask)
        // lie inside a segment, so inside the row (`b <= n`), `kb` and the row's chunk.
        let load = |x: *const f32, m: Option<__m256i>| match m {
            None => unsafe { _mm256_loadu_ps(x) },
            Some(m) => unsafe { _mm256_maskload_ps(x, m) },
        };
        let (kb, neg_inf) = (kb.as_ptr(), _mm256_set1_ps(f32::NEG_INFINITY));
        for ((sr, pr), seg) in s.chunks_exact(n).zip(p.chunks_exact_mut(n)).zip(segs) {
            let (sr, pp) = (sr.as_ptr(), pr.as_mut_ptr());
            let score =
                |j: usize, m| unsafe { _mm256_add_ps(load(sr.add(j), m), load(kb.add(j), m)) };
            let mut vmax = neg_inf;
            for &run in seg {
                vectors(run, |j, m| {
                    let v = score(j, m);
                    let v = match m {
                        None => v,
                        Some(m) => _mm256_blendv_ps(neg_inf, v, _mm256_castsi256_ps(m)),
                    };
                    vmax = _mm256_max_ps(vmax, v);
                });
            }
            let max = _mm256_set1_ps(hmax(vmax));
            let mut vsum = _mm256_setzero_ps();
            for &run in seg {
                vectors(run, |j, m| {
                    let e = exp(_mm256_sub_ps(score(j, m), max));
                    match m {
                        None => unsafe { _mm256_storeu_ps(pp.add(j), e) },
                        Some(m) => {
                            let e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
                            unsafe { _mm256_maskstore_ps(pp.add(j), m, e) };
                            vsum = _mm256_add_ps(vsum, e);
                            return;
                        }
                    }
                    vsum = _mm256_add_ps(vsum, e);
                });
            }
            // SAFETY: register arithmetic under this function's AVX2
            let sum = unsafe { super::super::math::hsum(vsum) };
            let inv = _mm256_set1_ps(if sum > 0.0 { 1.0 / sum } else { 0.0 });
            let mut gap = 0;
            for &run in seg {
                if run.0 == run.1 {
                    continue;
                }
                pr[gap..run.0].fill(0.0);
                let pp = pr.as_mut_ptr();
                vectors(run, |j, m| {
                    let v = _mm256_mul_ps(load(unsafe { pp.add(j) }, m), inv);
                    match m {
                        None => unsafe { _mm256_storeu_ps(pp.add(j), v) },
                        Some(m) => unsafe { _mm256_maskstore_ps(pp.add(j), m, v) },
                    }
                });
                gap = run.1;
            }
            pr[gap..].fill(0.0);
        }
    }
}
simd_entry!(
    /// Row-wise softmax of rows of length `n`.
    pub(crate) fn softmax_rows(x: &[f32], y: &mut [f32], n: usize) => softmax_rows_impl
);
simd_entry!(
    /// Row-wise softmax backward in place on `dy`, given the outputs `y`.
    pub(crate) fn softmax_grad_rows(y: &[f32], dy: &mut [f32], n: usize) => softmax_grad_rows_impl
);

/// The fused softmax op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedSoftmaxBackend: Backend {
    /// Softmax over the last dimension.
    fn fused_softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Length of the rows of a tensor (its last dimension).
fn row_len(t: &FlexTensor) -> usize {
    t.shape().iter().last().copied().unwrap_or(1).max(1)
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let n = row_len(x);
    map_values(x, |x, y| softmax_rows(x, y, n))
}

impl FusedSoftmaxBackend for Flex {
    fn fused_softmax_last(x: FlexTensor) -> FlexTensor {
        forward(&x)
    }
}

#[derive(Debug)]
struct SoftmaxBackward;

impl Backward<Flex, 1> for SoftmaxBackward {
    /// The output `y` (contiguous).
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let n = row_len(&dy);
            let dx = map_grad(dy, &ops.state, |y, g| softmax_grad_rows(y, g, n));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

impl<C: CheckpointStrategy> FusedSoftmaxBackend for Autodiff<Flex, C> {
    fn fused_softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let xp = x.primitive();
        match SoftmaxBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = forward(xp);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(xp)),
        }
    }
}

/// Softmax over the last dimension: one fused op on Flex, burn's softmax elsewhere.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if super::uses_fused_kernels(&x.device()) && x.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as FusedSoftmaxBackend>::fused_softmax_last(
            x.into_dispatch(),
        ))
    } else {
        burn::tensor::activation::softmax(x, D - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::softmax;
    use burn::tensor::{Distribution, TensorData};

    #[test]
    fn segment_softmax_kernel_matches_the_portable_loop() {
        // rows of 45 columns: segments with and without partial vectors, single columns, an
        // empty first segment, segments touching both ends, large and small scores
        let n = 45;
        let cases: [Segments; 7] = [
            [(0, 0), (3, 40)],
            [(0, 8), (16, 45)],
            [(2, 3), (9, 10)],
            [(0, 45), (0, 0)],
            [(1, 17), (20, 21)],
            [(0, 0), (44, 45)],
            [(5, 13), (13, 30)],
        ];
        let value = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 7.0;
        let s: Vec<f32> = (0..cases.len() * n).map(value).collect();
        let kb: Vec<f32> = (0..n).map(|j| -0.25 * j as f32).collect();
        let mut want = vec![f32::NAN; s.len()];
        softmax_segments_portable(&s, &mut want, n, &kb, &cases);
        let mut got = vec![f32::NAN; s.len()];
        softmax_segments(&s, &mut got, n, &kb, &cases);
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-6 * (1.0 + w.abs()),
                "[{i}]: {g} against {w}"
            );
        }
        for (r, seg) in cases.iter().enumerate() {
            let row = &got[r * n..(r + 1) * n];
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-5, "row {r} sums to {total}");
            for (j, &v) in row.iter().enumerate() {
                let seen = seg.iter().any(|&(a, b)| (a..b).contains(&j));
                assert!(seen || v == 0.0, "row {r}: hidden column {j} is {v}");
            }
        }
    }

    #[test]
    fn fused_softmax_matches_burn_in_value_and_gradient_with_masked_entries() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let x = Tensor::<3>::random([3, 5, 17], Distribution::Normal(0.0, 3.0), &plain);
        // a mask like attention's: large negative entries, one fully masked row
        let mut m = vec![0.0f32; 3 * 5 * 17];
        for (i, v) in m.iter_mut().enumerate() {
            if i % 3 == 0 || (17..34).contains(&i) {
                *v = -1.0e9;
            }
        }
        let x = x + Tensor::<3>::from_data(TensorData::new(m, [3, 5, 17]), &plain);
        let w = Tensor::<3>::random([3, 5, 17], Distribution::Normal(0.0, 1.0), &plain);
        let xa = x.clone().autodiff().require_grad();
        let xb = x.autodiff().require_grad();
        let ya = softmax_last(xa.clone());
        let yb = softmax(xb.clone(), 2);
        let d = (ya.clone() - yb.clone()).abs().max().into_scalar::<f32>();
        assert!(d < 1e-6, "values differ by {d}");
        let ga = (ya * w.clone().autodiff()).sum().backward();
        let gb = (yb * w.autodiff()).sum().backward();
        let (da, db) = (xa.grad(&ga).expect("grad"), xb.grad(&gb).expect("grad"));
        let d = (da - db).abs().max().into_scalar::<f32>();
        assert!(d < 1e-5, "gradients differ by {d}");
    }
}
