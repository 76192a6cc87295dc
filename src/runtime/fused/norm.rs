//! Fused layer and RMS normalisation over the last axis, as one custom op with a hand-written
//! backward.
//!
//! burn's autodiff backend decomposes `layer_norm` into about ten tracked ops (mean, subtract,
//! square, mean, add, sqrt, divide, scale, shift), each a pass over the activations and ~2 µs of
//! fixed cost; a prenorm block pays that twice per layer in every rollout step and update. Here
//! the forward is one pass per row; the tape is the normalised rows `x̂` and `1/σ` per row:
//! `dγ = Σ dy ⊙ x̂`, `dβ = Σ dy`, `g = dy ⊙ γ`,
//! `dx = (1/σ)·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂))` (RMS norm: without the `mean(g)` term).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::math::{add_column_sums, lane_sum, row_dot, row_sum, simd_entry};
use super::{contiguous, f32s};

/// The fused normalisation op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedNormBackend: Backend {
    /// `x: [.., F]`, `gamma, beta: [F]` → `[.., F]`; `centered` = 1 for layer norm (subtract the
    /// mean), 0 for RMS norm; `eps_bits` = `epsilon` as f64 bits.
    fn fused_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        centered: usize,
        eps_bits: u64,
    ) -> FloatTensor<Self>;
}

/// What the backward pass needs.
#[derive(Debug)]
struct NormTape {
    centered: bool,
    /// Normalised rows `x̂`.
    xhat: Vec<f32>,
    /// `1/σ` per row.
    rstd: Vec<f32>,
    gamma: FlexTensor,
    shape: burn::tensor::Shape,
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn norm_rows_impl(
    xs: &[f32],
    (gs, bs): (&[f32], &[f32]),
    xhat: Option<&mut Vec<f32>>,
    y: &mut Vec<f32>,
    rstd: &mut [f32],
    centered: bool,
    eps: f32,
) {
    let f = gs.len();
    // written into the spare capacity (no zero fill of buffers that are overwritten)
    y.reserve(xs.len());
    let mut xhat = xhat;
    if let Some(h) = xhat.as_deref_mut() {
        h.reserve(xs.len());
    }
    let (y0, h0) = (y.len(), xhat.as_ref().map_or(0, |h| h.len()));
    for (r, (row, rs)) in xs.chunks_exact(f).zip(rstd.iter_mut()).enumerate() {
        let mean = if centered {
            row_sum(row) / f as f32
        } else {
            0.0
        };
        let var = lane_sum(row, |v| (v - mean) * (v - mean)) / f as f32;
        let inv = 1.0 / (var + eps).sqrt();
        *rs = inv;
        let out = &mut y.spare_capacity_mut()[r * f..(r + 1) * f];
        for (((o, &v), &g), &b) in out.iter_mut().zip(row).zip(gs).zip(bs) {
            o.write((v - mean) * inv * g + b);
        }
        if let Some(h) = xhat.as_deref_mut() {
            for (o, &v) in h.spare_capacity_mut()[r * f..(r + 1) * f]
                .iter_mut()
                .zip(row)
            {
                o.write((v - mean) * inv);
            }
        }
    }
    let done = xs.len() / f.max(1) * f;
    // SAFETY: the loop initialised the `done` elements after each buffer's old length.
    unsafe {
        y.set_len(y0 + done);
        if let Some(h) = xhat {
            h.set_len(h0 + done);
        }
    }
}

simd_entry!(
    /// Normalises every row of `xs` (width `gs.len()`): appends the output to `y` and, when
    /// given, `x̂` to `xhat`; writes `1/σ`.
    fn norm_rows(
        xs: &[f32],
        gb: (&[f32], &[f32]),
        xhat: Option<&mut Vec<f32>>,
        y: &mut Vec<f32>,
        rstd: &mut [f32],
        centered: bool,
        eps: f32,
    ) => norm_rows_impl
);

/// Forward: returns the tape (when `record`) and the output.
fn forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    centered: bool,
    eps: f64,
    record: bool,
) -> (Option<NormTape>, FlexTensor) {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let (xs, gs, bs) = (f32s(&x), f32s(&gamma), f32s(&beta));
    let f = gs.len();
    let n = xs.len() / f.max(1);
    let (mut y, mut xhat) = (Vec::new(), Vec::new());
    let mut rstd = vec![0.0f32; n];
    let keep = record.then_some(&mut xhat);
    norm_rows(xs, (gs, bs), keep, &mut y, &mut rstd, centered, eps as f32);
    let shape = x.shape();
    let out = FlexTensor::from_data(TensorData::new(y, shape.clone()));
    let tape = record.then(|| NormTape {
        centered,
        xhat,
        rstd,
        gamma,
        shape,
    });
    (tape, out)
}

impl FusedNormBackend for Flex {
    fn fused_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        centered: usize,
        eps_bits: u64,
    ) -> FlexTensor {
        forward(
            &x,
            &gamma,
            &beta,
            centered == 1,
            f64::from_bits(eps_bits),
            false,
        )
        .1
    }
}

#[inline(always)]
fn add_column_products_impl(acc: &mut [f32], a: &[f32], b: &[f32]) {
    let f = acc.len();
    for (a, b) in a.chunks_exact(f).zip(b.chunks_exact(f)) {
        for k in 0..f {
            acc[k] += a[k] * b[k];
        }
    }
}

#[inline(always)]
fn input_grad_impl(
    dy: &[f32],
    xhat: &[f32],
    gamma: &[f32],
    rstd: &[f32],
    centered: bool,
    dx: &mut [f32],
) {
    let f = gamma.len();
    let rows = dy
        .chunks_exact(f)
        .zip(xhat.chunks_exact(f))
        .zip(dx.chunks_exact_mut(f));
    for (r, ((d, h), out)) in rows.enumerate() {
        // `out` holds g = dy ⊙ γ first; the two means are lane-split reductions over it.
        for k in 0..f {
            out[k] = d[k] * gamma[k];
        }
        let mean_g = if centered {
            row_sum(out) / f as f32
        } else {
            0.0
        };
        let mean_gh = row_dot(out, h) / f as f32;
        let rs = rstd[r];
        for k in 0..f {
            out[k] = rs * (out[k] - mean_g - h[k] * mean_gh);
        }
    }
}

simd_entry!(
    /// `acc += Σ_rows a ⊙ b` for row-major `a`, `b` with rows of `acc.len()`: `dγ`.
    fn add_column_products(acc: &mut [f32], a: &[f32], b: &[f32]) => add_column_products_impl
);
simd_entry!(
    /// `dx = (1/σ)·(g − mean(g) − x̂ ⊙ mean(g ⊙ x̂))` per row, `g = dy ⊙ γ` (no `mean(g)` term
    /// unless `centered`).
    fn input_grad(
        dy: &[f32],
        xhat: &[f32],
        gamma: &[f32],
        rstd: &[f32],
        centered: bool,
        dx: &mut [f32],
    ) => input_grad_impl
);

#[derive(Debug)]
struct NormBackward;

impl Backward<Flex, 3> for NormBackward {
    type State = Arc<NormTape>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_node, g_node, b_node] = ops.parents;
        let tape = ops.state;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let (dys, gs) = (f32s(&dy), f32s(&tape.gamma));
        let f = gs.len();
        if let Some(node) = g_node {
            let mut dg = vec![0.0f32; f];
            add_column_products(&mut dg, dys, &tape.xhat);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dg, [f])));
        }
        if let Some(node) = b_node {
            let mut db = vec![0.0f32; f];
            add_column_sums(&mut db, dys);
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [f])));
        }
        if let Some(node) = x_node {
            let mut dx = vec![0.0f32; dys.len()];
            input_grad(dys, &tape.xhat, gs, &tape.rstd, tape.centered, &mut dx);
            let dx = FlexTensor::from_data(TensorData::new(dx, tape.shape.clone()));
            grads.register::<Flex>(node.id, dx);
        }
    }
}

impl<C: CheckpointStrategy> FusedNormBackend for Autodiff<Flex, C> {
    fn fused_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        centered: usize,
        eps_bits: u64,
    ) -> FloatTensor<Self> {
        let (centered, eps) = (centered == 1, f64::from_bits(eps_bits));
        let nodes = [x.node(), gamma.node(), beta.node()];
        let (x, gamma, beta) = (x.primitive(), gamma.primitive(), beta.primitive());
        match NormBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (tape, out) = forward(x, gamma, beta, centered, eps, true);
                prep.finish(Arc::new(tape.expect("recorded")), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(forward(x, gamma, beta, centered, eps, false).1)
            }
        }
    }
}

/// Layer norm (`centered`) or RMS norm over the last axis: `x̂ ⊙ gamma + beta` with
/// `x̂ = (x − mean) / √(var + eps)` (RMS: `x / √(mean(x²) + eps)`). One fused op on Flex, the
/// reference elsewhere.
pub fn norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    centered: bool,
    eps: f64,
) -> Tensor<D> {
    let [f] = gamma.dims();
    assert_eq!(x.dims()[D - 1], f, "norm: input width must be {f}");
    let fused = x.shape().num_elements() > 0 && f > 0 && super::all_fusable(&[&x, &gamma, &beta]);
    if !fused {
        return norm_reference(x, gamma, beta, centered, eps);
    }
    let beta = beta.unwrap_or_else(|| Tensor::zeros([f], &x.device()));
    Tensor::from_dispatch(<Dispatch as FusedNormBackend>::fused_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        usize::from(centered),
        eps.to_bits(),
    ))
}

/// The same maths as burn ops (fallback and test oracle).
pub fn norm_reference<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Option<Tensor<1>>,
    centered: bool,
    eps: f64,
) -> Tensor<D> {
    let last = D - 1;
    let x = if centered {
        x.clone() - x.mean_dim(last)
    } else {
        x
    };
    let var = x.clone().square().mean_dim(last);
    let y = x / (var + eps).sqrt() * gamma.unsqueeze();
    match beta {
        Some(b) => y + b.unsqueeze(),
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn fused_norm_matches_burn_ops_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let x = Tensor::<3>::random([2, 3, 6], Distribution::Normal(0.5, 2.0), &plain);
        let up = Tensor::<3>::random([2, 3, 6], Distribution::Normal(0.0, 1.0), &plain);
        let g = Tensor::<1>::random([6], Distribution::Normal(1.0, 0.3), &plain);
        let b = Tensor::<1>::random([6], Distribution::Normal(0.0, 0.3), &plain);
        for centered in [true, false] {
            let leaves = || {
                (
                    x.clone().autodiff().require_grad(),
                    g.clone().autodiff().require_grad(),
                    b.clone().autodiff().require_grad(),
                )
            };
            let ((xa, ga, ba), (xb, gb, bb)) = (leaves(), leaves());
            let beta = |t: &Tensor<1>| centered.then(|| t.clone());
            let ya = norm(xa.clone(), ga.clone(), beta(&ba), centered, 1e-5);
            let yb = norm_reference(xb.clone(), gb.clone(), beta(&bb), centered, 1e-5);
            let d = (ya.clone() - yb.clone()).abs().max().into_scalar::<f32>();
            assert!(d < 1e-5, "centered={centered}: values differ by {d}");
            let gra = (ya * up.clone().autodiff()).sum().backward();
            let grb = (yb * up.clone().autodiff()).sum().backward();
            let diff = |a: Option<Tensor<3>>, b: Option<Tensor<3>>| {
                (a.expect("grad") - b.expect("grad"))
                    .abs()
                    .max()
                    .into_scalar::<f32>()
            };
            let diff1 = |a: Option<Tensor<1>>, b: Option<Tensor<1>>| {
                (a.expect("grad") - b.expect("grad"))
                    .abs()
                    .max()
                    .into_scalar::<f32>()
            };
            let dx = diff(xa.grad(&gra), xb.grad(&grb));
            let dg = diff1(ga.grad(&gra), gb.grad(&grb));
            assert!(
                dx < 1e-4 && dg < 1e-4,
                "centered={centered}: dx {dx}, dgamma {dg}"
            );
            if centered {
                let db = diff1(ba.grad(&gra), bb.grad(&grb));
                assert!(db < 1e-4, "dbeta differs by {db}");
            }
        }
    }
}
