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
    /// Row-wise softmax of `s + kb` (rows of length `n`, `kb` one additive bias per column) over
    /// each row's visible `segs` (ascending, non-overlapping); every other column of `p` is 0.
    pub(crate) fn softmax_segments(s: &[f32], p: &mut [f32], n: usize, kb: &[f32], segs: &[Segments]) => softmax_segments_impl
);
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
            let dx = map_grad(&dy, &ops.state, |y, g| softmax_grad_rows(y, g, n));
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
