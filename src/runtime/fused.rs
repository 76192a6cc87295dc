//! Fused whole-sequence recurrent ops (GRU, LSTM) with hand-written backward passes.
//!
//! Trained by BPTT as per-timestep tensor ops, a GRU costs a few dozen tracked burn ops per step
//! (~1.8 µs each on CPU). Here the whole sequence is one custom op: the forward is a plain Rust loop
//! over contiguous f32 buffers that records the gate activations, and the backward node runs the
//! reverse-time loop over that tape. Inputs are the *precomputed* input projections
//! `gx = x·W_x + b_x` for all steps, so the expensive-to-batch part stays an ordinary burn matmul.
//!
//! * [`gru_sequence`] / [`lstm_sequence`] use the fused op when every input lives on the Flex
//!   backend (plain or autodiff) and is f32, and fall back to the reference otherwise (e.g. CUDA).
//! * [`gru_sequence_reference`] / [`lstm_sequence_reference`] are the same maths as ordinary burn
//!   ops, one step at a time: the fallback and the oracle for tests.
//!
//! `reset[t, b] = 1.0` means row `b` starts an episode at step `t`: its state is multiplied by
//! `1 − reset[t, b]` (zeroed) before step `t` consumes it. No gradient flows to `reset`.

pub mod adam;
pub mod attention;
pub(crate) mod attention_step;
mod backend;
pub mod chain;
pub mod cscan;
pub mod dense;
mod direct;
pub mod fork;
pub mod gelu;
mod gru;
mod lstm;
mod math;
pub mod norm;
mod reference;
pub mod scan;
pub mod softmax;
mod step_heads;
pub(crate) mod window;

use burn::backend::Dispatch;
use burn::tensor::{DType, Device, Tensor};

use backend::FusedRecurrentBackend;
pub use reference::{gru_sequence_reference, lstm_sequence_reference};

/// `a · b` for f32 matrices given as strided views (`a: [m, k]` with row and column strides
/// `a_strides`, `b: [k, n]` with `b_strides`), as a new row-major `[m, n]` buffer: the dense
/// product every fused op runs on (AVX2 register tiles where the CPU has them, else `gemm`).
///
/// # Panics
/// When a stride is negative or a view reaches past its buffer.
pub fn matrix_product(
    a: &[f32],
    (m, k): (usize, usize),
    a_strides: (isize, isize),
    b: &[f32],
    n: usize,
    b_strides: (isize, isize),
) -> Vec<f32> {
    let a = math::Mat::strided(a, m, k, a_strides.0, a_strides.1);
    let b = math::Mat::strided(b, k, n, b_strides.0, b_strides.1);
    math::product(a, b)
}

/// GRU over a whole sequence (gate order r, z, n).
///
/// `gx: [T, B, 3H]` is `x·W_x + b_x` for every step; `wh: [H, 3H]`; `bh: [3H]`; `h0: [B, H]`;
/// `reset: [T, B]` (1.0 where step `t` starts an episode). Returns `hs: [T, B, H]`, the state after
/// each step: `r = σ(gx_r + h·W_hr + b_hr)`, `z = σ(gx_z + h·W_hz + b_hz)`,
/// `n = tanh(gx_n + r ⊙ (h·W_hn + b_hn))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
pub fn gru_sequence(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    reset: Tensor<2>,
) -> Tensor<3> {
    let d = check_shapes("gru", 3, &gx, &wh, &bh, &h0, &reset);
    let fused = d.t > 0 && all_fusable(&[&gx, &wh, &bh, &h0, &reset]);
    if !fused {
        return gru_sequence_reference(gx, wh, bh, h0, reset);
    }
    let hs = <Dispatch as FusedRecurrentBackend>::fused_gru_sequence(
        gx.into_dispatch(),
        wh.into_dispatch(),
        bh.into_dispatch(),
        h0.into_dispatch(),
        reset.into_dispatch(),
    );
    Tensor::from_dispatch(hs)
}

/// LSTM over a whole sequence (gate order i, f, g, o).
///
/// `gx: [T, B, 4H]` is `x·W_x + b_x` for every step; `wh: [H, 4H]`; `bh: [4H]`; `h0`, `c0: [B, H]`;
/// `reset: [T, B]` (1.0 where step `t` starts an episode; both `h` and `c` are zeroed). Returns
/// `(hs, cs)`, each `[T, B, H]`: `i, f, o = σ(·)`, `g = tanh(·)`, `c' = f ⊙ c + i ⊙ g`,
/// `h' = o ⊙ tanh(c')`.
pub fn lstm_sequence(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    reset: Tensor<2>,
) -> (Tensor<3>, Tensor<3>) {
    let d = check_shapes("lstm", 4, &gx, &wh, &bh, &h0, &reset);
    assert_eq!(c0.dims(), [d.b, d.h], "lstm: c0 must be [{}, {}]", d.b, d.h);
    let fused = d.t > 0 && all_fusable(&[&gx, &wh, &bh, &h0, &c0, &reset]);
    if !fused {
        return lstm_sequence_reference(gx, wh, bh, h0, c0, reset);
    }
    let packed = <Dispatch as FusedRecurrentBackend>::fused_lstm_sequence(
        gx.into_dispatch(),
        wh.into_dispatch(),
        bh.into_dispatch(),
        h0.into_dispatch(),
        c0.into_dispatch(),
        reset.into_dispatch(),
    );
    let packed = Tensor::<4>::from_dispatch(packed);
    let hs = packed.clone().narrow(0, 0, 1).reshape([d.t, d.b, d.h]);
    let cs = packed.narrow(0, 1, 1).reshape([d.t, d.b, d.h]);
    (hs, cs)
}

/// Sizes of one sequence: `t` steps, `b` rows, `h` hidden units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dims {
    t: usize,
    b: usize,
    h: usize,
}

/// An input of a fused op: it can take the fused kernel when it lives on Flex and is f32.
pub(crate) trait FusedInput {
    /// On the Flex backend (plain or autodiff) and f32 (an absent optional input always is).
    fn fusable(&self) -> bool;
}

impl<const D: usize> FusedInput for Tensor<D> {
    fn fusable(&self) -> bool {
        self.dtype() == DType::F32 && uses_fused_kernels(&self.device())
    }
}

impl<T: FusedInput> FusedInput for Option<T> {
    fn fusable(&self) -> bool {
        self.as_ref().is_none_or(FusedInput::fusable)
    }
}

/// Whether every input of a call can take the fused kernel (see [`FusedInput`]).
pub(crate) fn all_fusable(inputs: &[&dyn FusedInput]) -> bool {
    inputs.iter().all(|x| x.fusable())
}

/// Whether f32 tensors on `device` take the fused kernels (the Flex backend, with or without
/// autodiff); elsewhere the `*_sequence` ops run their reference implementation.
pub fn uses_fused_kernels(device: &Device) -> bool {
    device.clone().inner() == Device::flex()
}

/// Checks the shapes of a recurrent sequence call with `gates` gates per unit; returns its sizes.
fn check_shapes(
    op: &str,
    gates: usize,
    gx: &Tensor<3>,
    wh: &Tensor<2>,
    bh: &Tensor<1>,
    h0: &Tensor<2>,
    reset: &Tensor<2>,
) -> Dims {
    let [t, b, gh] = gx.dims();
    let [b0, h] = h0.dims();
    let g = gates * h;
    assert_eq!(b0, b, "{op}: h0 is [{b0}, {h}] but gx has batch {b}");
    assert_eq!(
        gh, g,
        "{op}: gx is [T, B, {gh}], expected [T, B, {g}] for H = {h}"
    );
    assert_eq!(wh.dims(), [h, g], "{op}: wh must be [{h}, {g}]");
    assert_eq!(bh.dims(), [g], "{op}: bh must be [{g}]");
    assert_eq!(reset.dims(), [t, b], "{op}: reset must be [{t}, {b}]");
    Dims { t, b, h }
}

/// Host access to a plain (not autodiff) Flex f32 tensor without the copies of `into_data`
/// (which copies a shared buffer, then again to realign it): the contiguous Flex tensor behind
/// it, whose `as_slice` borrows the values. `None` for any other tensor.
pub(crate) fn plain_flex<const D: usize>(t: Tensor<D>) -> Option<burn::backend::flex::FlexTensor> {
    plain_flex_view(t).map(|ft| contiguous(&ft))
}

/// The Flex tensor behind a plain Flex f32 tensor as it is (possibly a strided view, sharing
/// its buffer with nothing else when the tensor was the buffer's only owner).
pub(crate) fn plain_flex_view<const D: usize>(
    t: Tensor<D>,
) -> Option<burn::backend::flex::FlexTensor> {
    use burn::backend::{BackendTensor, DispatchTensorKind};
    if t.dtype() != DType::F32 {
        return None;
    }
    match t.into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(ft)) => Some(ft),
        _ => None,
    }
}

/// The tensor with its values contiguous: a plain Flex strided view (an attention window) is
/// copied once, so that later row selections read it directly; anything else is returned as is.
pub fn compact<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    match plain_flex_view(t.clone()) {
        Some(ft) if ft.as_slice::<f32>().is_none() => plain_from_flex(contiguous(&ft)),
        _ => t,
    }
}

/// A plain Flex tensor of `shape` owning `data` (no copy).
pub(crate) fn plain_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> Tensor<D> {
    let ft = burn::backend::flex::FlexTensor::from_data(burn::tensor::TensorData::new(data, shape));
    plain_from_flex(ft)
}

/// A tensor of `shape` on `device` holding `values`, tracked when `tracked`: a parameter
/// rebuilt from host values (by a host optimizer, or from a host-held copy).
pub(crate) fn host_param_tensor<const D: usize>(
    values: Vec<f32>,
    shape: burn::tensor::Shape,
    device: &Device,
    tracked: bool,
) -> Tensor<D> {
    let t = Tensor::<D>::from_data(burn::tensor::TensorData::new(values, shape), device);
    if tracked { t.require_grad() } else { t }
}

/// A plain tensor around a Flex tensor (no copy; views stay views).
pub(crate) fn plain_from_flex<const D: usize>(ft: burn::backend::flex::FlexTensor) -> Tensor<D> {
    use burn::backend::{
        BackendTensor, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    };
    Tensor::from_dispatch(DispatchTensor {
        kind: DispatchTensorKind::Flex(BackendTensor::Float(ft)),
        autodiff: DispatchAutodiffContext::Disabled,
    })
}

/// The values of a contiguous f32 Flex tensor (as [`contiguous`] and [`plain_flex`] return).
pub(crate) fn f32s(t: &burn::backend::flex::FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}

/// The tensor as a contiguous f32 Flex tensor (shares the buffer when it already is one).
fn contiguous(t: &burn::backend::flex::FlexTensor) -> burn::backend::flex::FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t.clone()
    } else {
        burn::backend::flex::FlexTensor::from_data(t.clone().into_data())
    }
}

/// A new contiguous f32 tensor of `x`'s shape filled by `f(x, out)`: the forward of the
/// elementwise and row-wise fused ops.
fn map_values(
    x: &burn::backend::flex::FlexTensor,
    f: impl FnOnce(&[f32], &mut [f32]),
) -> burn::backend::flex::FlexTensor {
    use burn::backend::TensorMetadata;
    let x = contiguous(x);
    let xs = x.as_slice::<f32>().expect("contiguous f32");
    let mut y = vec![0.0f32; xs.len()];
    f(xs, &mut y);
    burn::backend::flex::FlexTensor::from_data(burn::tensor::TensorData::new(y, x.shape()))
}

/// The incoming gradient `dy` transformed in place by `f(saved, dy)` (reusing its buffer when it
/// is not shared; taken by value, so that the caller's handle does not count as a share): the
/// backward of the elementwise and row-wise fused ops.
fn map_grad(
    dy: burn::backend::flex::FlexTensor,
    saved: &burn::backend::flex::FlexTensor,
    f: impl FnOnce(&[f32], &mut [f32]),
) -> burn::backend::flex::FlexTensor {
    use burn::backend::TensorMetadata;
    let shape = dy.shape();
    let mut dy = if dy.as_slice::<f32>().is_some() {
        dy
    } else {
        contiguous(&dy)
    };
    let s = saved.as_slice::<f32>().expect("contiguous f32");
    match dy.try_storage_mut::<f32>() {
        Some(g) if g.len() == s.len() => {
            f(s, g);
            dy
        }
        _ => {
            let mut g = dy.as_slice::<f32>().expect("contiguous f32").to_vec();
            f(s, &mut g);
            burn::backend::flex::FlexTensor::from_data(burn::tensor::TensorData::new(g, shape))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_f32_inputs_take_the_fused_kernels_and_others_do_not() {
        let dev = Device::flex().autodiff();
        let x = Tensor::<2>::zeros([2, 3], &dev);
        let plain = Tensor::<1>::zeros([3], &dev.clone().inner());
        let none: Option<Tensor<1>> = None;
        assert!(all_fusable(&[&x, &plain, &none]));
        let half = x.clone().cast(DType::F16);
        assert!(!all_fusable(&[&x, &half]));
        assert!(!all_fusable(&[&Some(half)]));
    }
}
