//! Fused GELU (tanh approximation) as one custom op with a hand-written backward.
//!
//! `gelu(x) = x · σ(u)`, `u = k (x + a x³)`, `k = 2 √(2/π)`, `a = 0.044715` (identical to
//! `0.5 x (1 + tanh(u / 2))`). As burn ops this is six tracked elementwise passes forward and more
//! backward; here it is one pass each way.

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{DType, Tensor};

use super::math::{exp, extend_map, simd_entry};
use super::{contiguous, map_grad, map_values};

const A: f32 = 0.044_715;

/// `2 √(2/π)`.
const K: f32 = 1.595_769;

fn k() -> f32 {
    K
}

/// GELU on one value.
#[inline(always)]
pub fn gelu_scalar(x: f32) -> f32 {
    let u = k() * (x + A * x * x * x);
    x / (1.0 + exp(-u))
}

/// d gelu / dx on one value.
#[inline(always)]
pub fn gelu_grad_scalar(x: f32) -> f32 {
    let u = k() * (x + A * x * x * x);
    let s = 1.0 / (1.0 + exp(-u));
    s + x * s * (1.0 - s) * k() * (1.0 + 3.0 * A * x * x)
}

#[inline(always)]
fn gelu_slice_impl(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = gelu_scalar(x);
    }
}

#[inline(always)]
fn gelu_grad_slice_impl(x: &[f32], dy: &mut [f32]) {
    for (g, &x) in dy.iter_mut().zip(x) {
        *g *= gelu_grad_scalar(x);
    }
}

simd_entry!(
    /// `y = gelu(x)` elementwise.
    pub(crate) fn gelu_slice(x: &[f32], y: &mut [f32]) => gelu_slice_impl
);
#[inline(always)]
fn gelu_extend_impl(x: &[f32], y: &mut Vec<f32>) {
    extend_map(x, y, gelu_scalar);
}

simd_entry!(
    /// Appends `gelu(x)` elementwise to `y` (no zero fill of a buffer that is overwritten).
    pub(crate) fn gelu_extend(x: &[f32], y: &mut Vec<f32>) => gelu_extend_impl
);
simd_entry!(
    /// `dy *= gelu'(x)` elementwise.
    pub(crate) fn gelu_grad_slice(x: &[f32], dy: &mut [f32]) => gelu_grad_slice_impl
);

/// The fused activation op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedActivationBackend: Backend {
    /// GELU (tanh approximation), elementwise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn forward(x: &FlexTensor) -> FlexTensor {
    map_values(x, gelu_slice)
}

impl FusedActivationBackend for Flex {
    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        forward(&x)
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The (contiguous) input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let dx = map_grad(dy, &ops.state, gelu_grad_slice);
            grads.register::<Flex>(node.id, dx);
        }
    }
}

impl<C: CheckpointStrategy> FusedActivationBackend for Autodiff<Flex, C> {
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let xp = x.primitive();
        match GeluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let xc = contiguous(xp);
                let y = forward(&xc);
                prep.finish(xc, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(xp)),
        }
    }
}

/// GELU (tanh approximation): one fused op on Flex, burn ops elsewhere.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if super::uses_fused_kernels(&x.device()) && x.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as FusedActivationBackend>::fused_gelu(
            x.into_dispatch(),
        ))
    } else {
        let cube = x.clone() * x.clone() * x.clone();
        let inner = (x.clone() + cube.mul_scalar(A)).mul_scalar(k());
        x * burn::tensor::activation::sigmoid(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::activation::sigmoid;

    fn composite<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        let cube = x.clone() * x.clone() * x.clone();
        x.clone() * sigmoid((x + cube.mul_scalar(A)).mul_scalar(k()))
    }

    #[test]
    fn fused_gelu_matches_burn_ops_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let x = Tensor::<2>::random(
            [7, 33],
            Distribution::Normal(0.0, 2.0),
            &dev.clone().inner(),
        );
        let w = Tensor::<2>::random(
            [7, 33],
            Distribution::Normal(0.0, 1.0),
            &dev.clone().inner(),
        );
        let xa = x.clone().autodiff().require_grad();
        let xb = x.clone().autodiff().require_grad();
        let ya = gelu(xa.clone());
        let yb = composite(xb.clone());
        let d = (ya.clone() - yb.clone()).abs().max().into_scalar::<f32>();
        assert!(d < 1e-5, "values differ by {d}");
        let ga = (ya * w.clone().autodiff()).sum().backward();
        let gb = (yb * w.autodiff()).sum().backward();
        let (da, db) = (xa.grad(&ga).expect("grad"), xb.grad(&gb).expect("grad"));
        let d = (da - db).abs().max().into_scalar::<f32>();
        assert!(d < 1e-4, "gradients differ by {d}");
    }

    #[test]
    fn gelu_reference_values() {
        // tanh-approximate GELU: gelu(1) = 0.841192, gelu(-1) = -0.158808, gelu(0) = 0
        assert!((gelu_scalar(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu_scalar(-1.0) + 0.158_808).abs() < 1e-5);
        assert_eq!(gelu_scalar(0.0), 0.0);
    }
}
