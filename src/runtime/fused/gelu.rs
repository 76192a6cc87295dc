//! Fused GELU (tanh approximation) as one custom op with a hand-written backward.
//!
//! `gelu(x) = x · σ(u)`, `u = k (x + a x³)`, `k = 2 √(2/π)`, `a = 0.044715` (identical to
//! `0.5 x (1 + tanh(u / 2))`). As burn ops this is six tracked elementwise passes forward and more
//! backward; here it is one pass each way.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};

const A: f32 = 0.044_715;

fn k() -> f32 {
    2.0 * (2.0 / std::f32::consts::PI).sqrt()
}

/// GELU on one value.
#[inline]
pub fn gelu_scalar(x: f32) -> f32 {
    let u = k() * (x + A * x * x * x);
    x / (1.0 + (-u).exp())
}

/// d gelu / dx on one value.
#[inline]
pub fn gelu_grad_scalar(x: f32) -> f32 {
    let u = k() * (x + A * x * x * x);
    let s = 1.0 / (1.0 + (-u).exp());
    s + x * s * (1.0 - s) * k() * (1.0 + 3.0 * A * x * x)
}

/// The fused activation op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedActivationBackend: Backend {
    /// GELU (tanh approximation), elementwise.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn values(t: &FlexTensor) -> Vec<f32> {
    match t.as_slice::<f32>() {
        Some(s) => s.to_vec(),
        None => t
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 tensor data"),
    }
}

fn forward(x: &FlexTensor) -> FlexTensor {
    let shape = x.shape();
    let y: Vec<f32> = match x.as_slice::<f32>() {
        Some(s) => s.iter().map(|&v| gelu_scalar(v)).collect(),
        None => values(x).into_iter().map(gelu_scalar).collect(),
    };
    FlexTensor::from_data(TensorData::new(y, shape))
}

impl FusedActivationBackend for Flex {
    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        forward(&x)
    }
}

/// Saved input of the GELU backward node.
#[derive(Debug)]
struct GeluState {
    x: Vec<f32>,
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    type State = Arc<GeluState>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            let shape = dy.shape();
            let dyv = values(&dy);
            let dx: Vec<f32> = dyv
                .iter()
                .zip(&ops.state.x)
                .map(|(g, &x)| g * gelu_grad_scalar(x))
                .collect();
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

impl<C: CheckpointStrategy> FusedActivationBackend for Autodiff<Flex, C> {
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let xp = x.primitive();
        match GeluBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = forward(xp);
                prep.finish(Arc::new(GeluState { x: values(xp) }), y)
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
