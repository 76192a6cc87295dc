//! Fused resettable linear recurrence `h_t = a_t ⊙ (1 − reset_t) h_{t−1} + b_t` as one custom op
//! with a hand-written backward (MinGRU and other diagonal linear recurrences).
//!
//! As burn ops this is a handful of tracked ops per step; here the forward is one pass over
//! contiguous buffers and the backward one reverse pass:
//! `g_t = ∂L/∂h_t + a_{t+1}(1 − reset_{t+1}) g_{t+1}`, `∂L/∂b_t = g_t`,
//! `∂L/∂a_t = g_t ⊙ (1 − reset_t) h_{t−1}`, `∂L/∂h_0 = a_1 (1 − reset_1) g_1`.
//! Sequential in time: on CPU with T ≤ a few hundred this beats a parallel (log-space) scan, which
//! does O(T log T) work, and it has the same numerics as stepping one step at a time.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

/// The fused scan op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedScanBackend: Backend {
    /// `a, b: [T, B, H]`, `h0: [B, H]`, `reset: [T, B]` → `hs: [T, B, H]`.
    fn fused_linear_scan(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
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

/// Host forward: returns `hs` (row-major `[T, B, H]`).
pub fn scan_forward(
    a: &[f32],
    b: &[f32],
    h0: &[f32],
    reset: &[f32],
    bh: (usize, usize),
) -> Vec<f32> {
    let (nb, h) = bh;
    let n = nb * h;
    let t_len = a.len().checked_div(n).unwrap_or(0);
    let mut hs = vec![0.0f32; a.len()];
    let mut prev = h0.to_vec();
    for t in 0..t_len {
        let o = t * n;
        for r in 0..nb {
            let keep = 1.0 - reset[t * nb + r];
            for j in r * h..(r + 1) * h {
                let v = a[o + j] * keep * prev[j] + b[o + j];
                hs[o + j] = v;
                prev[j] = v;
            }
        }
    }
    hs
}

/// Host backward: `(da, db, dh0)` from the saved inputs, the outputs and `dhs`.
pub fn scan_backward(st: &ScanState, dhs: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (nb, h) = (st.b, st.h);
    let n = nb * h;
    let t_len = st.t;
    let mut da = vec![0.0f32; dhs.len()];
    let mut db = vec![0.0f32; dhs.len()];
    let mut g = vec![0.0f32; n];
    for t in (0..t_len).rev() {
        let o = t * n;
        for r in 0..nb {
            let keep = 1.0 - st.reset[t * nb + r];
            for j in r * h..(r + 1) * h {
                let gt = dhs[o + j] + g[j];
                let hprev = if t == 0 { st.h0[j] } else { st.hs[o - n + j] };
                db[o + j] = gt;
                da[o + j] = gt * keep * hprev;
                g[j] = gt * st.a[o + j] * keep;
            }
        }
    }
    (da, db, g)
}

/// What the backward node keeps from the forward pass.
#[derive(Debug)]
pub struct ScanState {
    t: usize,
    b: usize,
    h: usize,
    a: Vec<f32>,
    h0: Vec<f32>,
    reset: Vec<f32>,
    hs: Vec<f32>,
}

fn forward(
    a: &FlexTensor,
    b: &FlexTensor,
    h0: &FlexTensor,
    reset: &FlexTensor,
) -> (ScanState, FlexTensor) {
    let s = a.shape();
    let (t, nb, h) = (s[0], s[1], s[2]);
    let (av, bv, h0v, rv) = (values(a), values(b), values(h0), values(reset));
    let hs = scan_forward(&av, &bv, &h0v, &rv, (nb, h));
    let out = FlexTensor::from_data(TensorData::new(hs.clone(), [t, nb, h]));
    let st = ScanState {
        t,
        b: nb,
        h,
        a: av,
        h0: h0v,
        reset: rv,
        hs,
    };
    (st, out)
}

impl FusedScanBackend for Flex {
    fn fused_linear_scan(
        a: FlexTensor,
        b: FlexTensor,
        h0: FlexTensor,
        reset: FlexTensor,
    ) -> FlexTensor {
        forward(&a, &b, &h0, &reset).1
    }
}

#[derive(Debug)]
struct ScanBackward;

impl Backward<Flex, 3> for ScanBackward {
    type State = Arc<ScanState>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [a_node, b_node, h0_node] = ops.parents;
        let dhs = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let (da, db, dh0) = scan_backward(&st, &values(&dhs));
        let shape = [st.t, st.b, st.h];
        if let Some(node) = a_node {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(da, shape)));
        }
        if let Some(node) = b_node {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, shape)));
        }
        if let Some(node) = h0_node {
            let d = TensorData::new(dh0, [st.b, st.h]);
            grads.register::<Flex>(node.id, FlexTensor::from_data(d));
        }
    }
}

impl<C: CheckpointStrategy> FusedScanBackend for Autodiff<Flex, C> {
    fn fused_linear_scan(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [a.node(), b.node(), h0.node()];
        let (a, b, h0, reset) = (
            a.primitive(),
            b.primitive(),
            h0.primitive(),
            reset.primitive(),
        );
        match ScanBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (st, out) = forward(a, b, h0, reset);
                prep.finish(Arc::new(st), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(a, b, h0, reset).1),
        }
    }
}

/// `hs[t] = a[t] ⊙ (1 − reset[t]) hs[t−1] + b[t]` from `h0`, for `a, b: [T, B, H]`,
/// `h0: [B, H]`, `reset: [T, B]`: one fused op on Flex, the per-step reference elsewhere.
/// No gradient flows to `reset`.
pub fn linear_scan(a: Tensor<3>, b: Tensor<3>, h0: Tensor<2>, reset: Tensor<2>) -> Tensor<3> {
    let [t, nb, h] = a.dims();
    assert_eq!(b.dims(), [t, nb, h], "linear_scan: b must match a");
    assert_eq!(h0.dims(), [nb, h], "linear_scan: h0 must be [{nb}, {h}]");
    assert_eq!(
        reset.dims(),
        [t, nb],
        "linear_scan: reset must be [{t}, {nb}]"
    );
    let fused = t > 0 && super::all_fusable(&[&a, &b, &h0, &reset]);
    if !fused {
        return linear_scan_reference(a, b, h0, reset);
    }
    Tensor::from_dispatch(<Dispatch as FusedScanBackend>::fused_linear_scan(
        a.into_dispatch(),
        b.into_dispatch(),
        h0.into_dispatch(),
        reset.detach().into_dispatch(),
    ))
}

/// The same recurrence as per-step burn ops (fallback and test oracle).
pub fn linear_scan_reference(
    a: Tensor<3>,
    b: Tensor<3>,
    h0: Tensor<2>,
    reset: Tensor<2>,
) -> Tensor<3> {
    let [t_len, nb, h] = a.dims();
    let mut prev = h0;
    let mut outs = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let keep = reset
            .clone()
            .narrow(0, t, 1)
            .reshape([nb, 1])
            .neg()
            .add_scalar(1.0);
        let at = a.clone().narrow(0, t, 1).reshape([nb, h]);
        let bt = b.clone().narrow(0, t, 1).reshape([nb, h]);
        prev = at * keep * prev + bt;
        outs.push(prev.clone());
    }
    Tensor::stack(outs, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn fused_scan_matches_reference_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let (t, b, h) = (9, 3, 5);
        let a = Tensor::<3>::random([t, b, h], Distribution::Uniform(0.0, 1.0), &plain);
        let x = Tensor::<3>::random([t, b, h], Distribution::Normal(0.0, 1.0), &plain);
        let h0 = Tensor::<2>::random([b, h], Distribution::Normal(0.0, 1.0), &plain);
        let w = Tensor::<3>::random([t, b, h], Distribution::Normal(0.0, 1.0), &plain);
        let mut rv = vec![0.0f32; t * b];
        rv[3 * b + 1] = 1.0;
        rv[7 * b] = 1.0;
        let reset = Tensor::<2>::from_data(TensorData::new(rv, [t, b]), &plain);
        let leaves = || {
            (
                a.clone().autodiff().require_grad(),
                x.clone().autodiff().require_grad(),
                h0.clone().autodiff().require_grad(),
            )
        };
        let (a1, x1, h1) = leaves();
        let (a2, x2, h2) = leaves();
        let y1 = linear_scan(a1.clone(), x1.clone(), h1.clone(), reset.clone().autodiff());
        let y2 =
            linear_scan_reference(a2.clone(), x2.clone(), h2.clone(), reset.clone().autodiff());
        let d = (y1.clone() - y2.clone()).abs().max().into_scalar::<f32>();
        assert!(d < 1e-5, "values differ by {d}");
        let g1 = (y1 * w.clone().autodiff()).sum().backward();
        let g2 = (y2 * w.autodiff()).sum().backward();
        for (p, q) in [(a1.grad(&g1), a2.grad(&g2)), (x1.grad(&g1), x2.grad(&g2))] {
            let d = (p.expect("grad") - q.expect("grad"))
                .abs()
                .max()
                .into_scalar::<f32>();
            assert!(d < 1e-4, "gradients differ by {d}");
        }
        let d = (h1.grad(&g1).expect("grad") - h2.grad(&g2).expect("grad"))
            .abs()
            .max()
            .into_scalar::<f32>();
        assert!(d < 1e-4, "h0 gradients differ by {d}");
    }
}
