//! Fused dense layer `act(x·W + b)` as one custom op with a hand-written backward.
//!
//! As burn ops a linear layer and its activation are a (batched) matmul, a broadcast bias add and
//! the activation: three tracked ops forward and more backward, each ~2 µs of fixed cost on CPU,
//! which dominates small networks (a DQN step over a 120-84 MLP). Here the forward is one
//! row-major `gemm` into a buffer pre-filled with the bias, then the activation in place; the tape
//! is the input, the weight and the output (or the pre-activation for `gelu`/`silu`):
//! `dz = dy ⊙ act'(·)`, `dx = dz Wᵀ`, `dW = xᵀ dz`, `db = Σ_rows dz`.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData, activation};

use super::gelu::{gelu_extend, gelu_grad_slice};
use super::math::{
    Mat, add_column_sums, add_to_rows, extend_map, product, sigmoid, sigmoid_in_place, simd_entry,
    tanh_in_place,
};
use super::{contiguous, f32s, map_grad};

/// The activation fused after the affine map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DenseAct {
    Identity,
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
    Silu,
}

impl DenseAct {
    /// By name, as `runtime::basic::apply_act` reads it (unknown names are the identity).
    pub(crate) fn by_name(kind: &str) -> Self {
        match kind {
            "relu" => DenseAct::Relu,
            "tanh" => DenseAct::Tanh,
            "sigmoid" => DenseAct::Sigmoid,
            "gelu" => DenseAct::Gelu,
            "silu" => DenseAct::Silu,
            _ => DenseAct::Identity,
        }
    }
    const ALL: [DenseAct; 6] = [
        DenseAct::Identity,
        DenseAct::Relu,
        DenseAct::Tanh,
        DenseAct::Sigmoid,
        DenseAct::Gelu,
        DenseAct::Silu,
    ];
    fn code(self) -> usize {
        Self::ALL.iter().position(|&a| a == self).expect("listed")
    }
    fn from_code(code: usize) -> Self {
        Self::ALL[code]
    }
    /// `act(z)`, plus `z` itself for the activations whose derivative needs the pre-activation
    /// (`gelu`, `silu`); the others are applied in place and their derivative reads the output.
    pub(crate) fn activate(self, mut z: Vec<f32>) -> (Vec<f32>, Option<Vec<f32>>) {
        match self {
            DenseAct::Identity => {}
            DenseAct::Relu => relu_slice(&mut z),
            DenseAct::Tanh => tanh_slice(&mut z),
            DenseAct::Sigmoid => sigmoid_slice(&mut z),
            DenseAct::Silu => {
                let mut y = Vec::with_capacity(z.len());
                silu_extend(&z, &mut y);
                return (y, Some(z));
            }
            DenseAct::Gelu => {
                let mut y = Vec::with_capacity(z.len());
                gelu_extend(&z, &mut y);
                return (y, Some(z));
            }
        }
        (z, None)
    }
    /// `dy ← dy ⊙ act'` given what [`DenseAct::activate`] saved: the pre-activation where it
    /// returned one, the output otherwise.
    pub(crate) fn grad(self, saved: &[f32], dy: &mut [f32]) {
        match self {
            DenseAct::Identity => {}
            DenseAct::Relu => relu_grad(saved, dy),
            DenseAct::Tanh => tanh_grad(saved, dy),
            DenseAct::Sigmoid => sigmoid_grad(saved, dy),
            DenseAct::Silu => silu_grad(saved, dy),
            DenseAct::Gelu => gelu_grad_slice(saved, dy),
        }
    }
}

/// `dy ⊙ f(saved)` elementwise, with `f` inlined into the caller's (AVX2) body.
#[inline(always)]
fn scale_by(saved: &[f32], dy: &mut [f32], f: impl Fn(f32) -> f32) {
    for (g, &s) in dy.iter_mut().zip(saved) {
        *g *= f(s);
    }
}

#[inline(always)]
fn relu_impl(z: &mut [f32]) {
    z.iter_mut().for_each(|v| *v = v.max(0.0));
}
#[inline(always)]
fn silu_extend_impl(z: &[f32], y: &mut Vec<f32>) {
    extend_map(z, y, |v| v * sigmoid(v));
}
#[inline(always)]
fn relu_grad_impl(y: &[f32], dy: &mut [f32]) {
    scale_by(y, dy, |y| if y > 0.0 { 1.0 } else { 0.0 });
}
#[inline(always)]
fn tanh_grad_impl(y: &[f32], dy: &mut [f32]) {
    scale_by(y, dy, |y| 1.0 - y * y);
}
#[inline(always)]
fn sigmoid_grad_impl(y: &[f32], dy: &mut [f32]) {
    scale_by(y, dy, |y| y * (1.0 - y));
}
#[inline(always)]
fn silu_grad_impl(z: &[f32], dy: &mut [f32]) {
    scale_by(z, dy, |z| {
        let s = sigmoid(z);
        s * (1.0 + z * (1.0 - s))
    });
}

// The activations and their derivatives compiled for AVX2 + FMA where the CPU has them (a
// closure per element, as before, ran the gates' sigmoid as scalar code: ~1% of PPO-GTrXL).
simd_entry!(
    /// `z ← max(z, 0)`.
    fn relu_slice(z: &mut [f32]) => relu_impl
);
simd_entry!(
    /// `z ← tanh(z)`.
    fn tanh_slice(z: &mut [f32]) => tanh_in_place
);
simd_entry!(
    /// `z ← σ(z)`.
    fn sigmoid_slice(z: &mut [f32]) => sigmoid_in_place
);
simd_entry!(
    /// Appends `z σ(z)` elementwise to `y`.
    fn silu_extend(z: &[f32], y: &mut Vec<f32>) => silu_extend_impl
);
simd_entry!(
    /// `dy ← dy ⊙ [y > 0]`.
    fn relu_grad(y: &[f32], dy: &mut [f32]) => relu_grad_impl
);
simd_entry!(
    /// `dy ← dy ⊙ (1 − y²)`.
    fn tanh_grad(y: &[f32], dy: &mut [f32]) => tanh_grad_impl
);
simd_entry!(
    /// `dy ← dy ⊙ y (1 − y)`.
    fn sigmoid_grad(y: &[f32], dy: &mut [f32]) => sigmoid_grad_impl
);
simd_entry!(
    /// `dy ← dy ⊙ silu'(z)`.
    fn silu_grad(z: &[f32], dy: &mut [f32]) => silu_grad_impl
);

/// The fused dense op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedDenseBackend: Backend {
    /// `x: [.., I]`, `w: [I, O]`, `b: [O]` → `act(x·w + b): [.., O]` (`act` a [`DenseAct`] code).
    fn fused_dense(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: usize,
    ) -> FloatTensor<Self>;
}

/// What the backward pass needs.
#[derive(Debug)]
struct DenseTape {
    act: DenseAct,
    x: FlexTensor,
    w: FlexTensor,
    /// The output, or the pre-activation when the activation needs it.
    saved: FlexTensor,
}

/// `(rows, inputs, outputs)` of a call.
fn sizes(x: &FlexTensor, w: &FlexTensor) -> (usize, usize, usize) {
    let (xs, ws) = (x.shape(), w.shape());
    (xs.num_elements() / ws[0].max(1), ws[0], ws[1])
}

/// Forward: returns the tape (when `record`) and the output.
fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: &FlexTensor,
    act: DenseAct,
    record: bool,
) -> (Option<DenseTape>, FlexTensor) {
    let (x, w, b) = (contiguous(x), contiguous(w), contiguous(b));
    let (n, i, o) = sizes(&x, &w);
    let mut z = product(Mat::rows(f32s(&x), n, i), Mat::rows(f32s(&w), i, o));
    add_to_rows(&mut z, f32s(&b));
    let mut shape = x.shape();
    let last = shape.num_dims() - 1;
    shape[last] = o;
    let (out, pre) = act.activate(z);
    let pre = pre
        .filter(|_| record)
        .map(|z| FlexTensor::from_data(TensorData::new(z, shape.clone())));
    let out = FlexTensor::from_data(TensorData::new(out, shape));
    let tape = record.then(|| DenseTape {
        act,
        saved: pre.unwrap_or_else(|| out.clone()),
        x,
        w,
    });
    (tape, out)
}

impl FusedDenseBackend for Flex {
    fn fused_dense(x: FlexTensor, w: FlexTensor, b: FlexTensor, act: usize) -> FlexTensor {
        forward(&x, &w, &b, DenseAct::from_code(act), false).1
    }
}

#[derive(Debug)]
struct DenseBackward;

impl Backward<Flex, 3> for DenseBackward {
    type State = Arc<DenseTape>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, w_node, b_node] = ops.parents;
        let tape = ops.state;
        let dy = grads.consume::<Flex>(&ops.node);
        let dz = map_grad(dy, &tape.saved, |s, g| tape.act.grad(s, g));
        let (n, i, o) = sizes(&tape.x, &tape.w);
        let dzs = f32s(&dz);
        if let Some(node) = x_node {
            let dx = product(Mat::rows(dzs, n, o), Mat::transposed(f32s(&tape.w), i, o));
            let dx = FlexTensor::from_data(TensorData::new(dx, tape.x.shape()));
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = w_node {
            let dw = product(Mat::transposed(f32s(&tape.x), n, i), Mat::rows(dzs, n, o));
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dw, [i, o])));
        }
        if let Some(node) = b_node {
            let mut db = vec![0.0f32; o];
            add_column_sums(&mut db, dzs);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [o])));
        }
    }
}

impl<C: CheckpointStrategy> FusedDenseBackend for Autodiff<Flex, C> {
    fn fused_dense(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        b: FloatTensor<Self>,
        act: usize,
    ) -> FloatTensor<Self> {
        let act = DenseAct::from_code(act);
        let nodes = [x.node(), w.node(), b.node()];
        let (x, w, b) = (x.primitive(), w.primitive(), b.primitive());
        match DenseBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (tape, out) = forward(x, w, b, act, true);
                prep.finish(Arc::new(tape.expect("recorded")), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(x, w, b, act, false).1),
        }
    }
}

/// `act(x·w + b)` for `x: [.., I]`, `w: [I, O]`, `b: [O]` (the layout of burn's `Linear`),
/// with `act` one of `relu`, `tanh`, `sigmoid`, `gelu`, `silu` (anything else: identity): one
/// fused op on Flex, burn ops elsewhere.
pub fn dense<const D: usize>(
    x: Tensor<D>,
    w: Tensor<2>,
    b: Option<Tensor<1>>,
    act: &str,
) -> Tensor<D> {
    let [i, o] = w.dims();
    assert_eq!(x.dims()[D - 1], i, "dense: input width must be {i}");
    let fused = D >= 2 && x.shape().num_elements() > 0 && super::all_fusable(&[&x, &w, &b]);
    if !fused {
        return dense_reference(x, w, b, act);
    }
    let b = b.unwrap_or_else(|| Tensor::zeros([o], &x.device()));
    Tensor::from_dispatch(<Dispatch as FusedDenseBackend>::fused_dense(
        x.into_dispatch(),
        w.into_dispatch(),
        b.into_dispatch(),
        DenseAct::by_name(act).code(),
    ))
}

/// The same maths as burn ops (fallback and test oracle).
pub fn dense_reference<const D: usize>(
    x: Tensor<D>,
    w: Tensor<2>,
    b: Option<Tensor<1>>,
    act: &str,
) -> Tensor<D> {
    let z = burn::tensor::module::linear(x, w, b);
    match DenseAct::by_name(act) {
        DenseAct::Identity => z,
        DenseAct::Relu => activation::relu(z),
        DenseAct::Tanh => activation::tanh(z),
        DenseAct::Sigmoid => activation::sigmoid(z),
        DenseAct::Silu => activation::silu(z),
        DenseAct::Gelu => super::gelu::gelu(z),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn fused_dense_matches_burn_ops_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &plain);
        let (x, up) = (r([2, 5, 4]), r([2, 5, 3]));
        let w = Tensor::<2>::random([4, 3], Distribution::Normal(0.0, 0.7), &plain);
        let b = Tensor::<1>::random([3], Distribution::Normal(0.0, 0.5), &plain);
        for act in ["identity", "relu", "tanh", "sigmoid", "gelu", "silu"] {
            for with_bias in [true, false] {
                let leaf2 = |t: &Tensor<2>| t.clone().autodiff().require_grad();
                let (xa, wa, ba) = (
                    x.clone().autodiff().require_grad(),
                    leaf2(&w),
                    b.clone().autodiff().require_grad(),
                );
                let (xb, wb, bb) = (
                    x.clone().autodiff().require_grad(),
                    leaf2(&w),
                    b.clone().autodiff().require_grad(),
                );
                let bias = |b: &Tensor<1>| with_bias.then(|| b.clone());
                let ya = dense(xa.clone(), wa.clone(), bias(&ba), act);
                let yb = dense_reference(xb.clone(), wb.clone(), bias(&bb), act);
                let d = (ya.clone() - yb.clone()).abs().max().into_scalar::<f32>();
                assert!(d < 1e-5, "{act}: values differ by {d}");
                let ga = (ya * up.clone().autodiff()).sum().backward();
                let gb = (yb * up.clone().autodiff()).sum().backward();
                let dx = (xa.grad(&ga).expect("dx") - xb.grad(&gb).expect("dx"))
                    .abs()
                    .max();
                let dw = (wa.grad(&ga).expect("dw") - wb.grad(&gb).expect("dw"))
                    .abs()
                    .max();
                for (name, d) in [
                    ("x", dx.into_scalar::<f32>()),
                    ("w", dw.into_scalar::<f32>()),
                ] {
                    assert!(d < 1e-4, "{act}: d{name} differs by {d}");
                }
                if with_bias {
                    let db = (ba.grad(&ga).expect("db") - bb.grad(&gb).expect("db"))
                        .abs()
                        .max();
                    let d = db.into_scalar::<f32>();
                    assert!(d < 1e-4, "{act}: db differs by {d}");
                }
            }
        }
    }
}
