//! Fused resettable complex diagonal recurrence `h_t = λ ⊙ (1 − reset_t) h_{t−1} + b_t` (λ constant
//! over time, complex as real/imaginary pairs) as one custom op with a hand-written backward: the
//! scan of `lru`, `s5` and `rtu`. As burn ops this is about a dozen tracked ops per step.
//!
//! With `p = (1 − reset_t) h_{t−1}` and `g_t = ∂L/∂h_t` (direct plus from step `t + 1`):
//! `∂L/∂b_t = g_t`, `∂L/∂λ_re += g_re p_re + g_im p_im`, `∂L/∂λ_im += g_im p_re − g_re p_im`,
//! `∂L/∂p = (λ_re g_re + λ_im g_im, λ_re g_im − λ_im g_re)`, passed to `h_{t−1}` times
//! `(1 − reset_t)`. Sequential in time, the same numerics as stepping one step at a time.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, Tensor, TensorData};

use super::contiguous;

/// The fused complex scan op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedComplexScanBackend: Backend {
    /// `lam: [2, H]` (re, im), `b: [2, T, B, H]`, `h0: [2, B, H]`, `reset: [T, B]` →
    /// `hs: [2, T, B, H]`.
    fn fused_complex_scan(
        lam: FloatTensor<Self>,
        b: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// What the backward pass keeps.
#[derive(Debug)]
struct CScanTape {
    t: usize,
    b: usize,
    h: usize,
    lam: Vec<f32>,
    h0: Vec<f32>,
    reset: Vec<f32>,
    /// Outputs `[2, T, B, H]`.
    hs: Vec<f32>,
}

fn values(t: &FlexTensor) -> Vec<f32> {
    contiguous(t)
        .as_slice::<f32>()
        .expect("contiguous f32")
        .to_vec()
}

fn forward(lam: &FlexTensor, b: &FlexTensor, h0: &FlexTensor, reset: &FlexTensor) -> CScanTape {
    let s = b.shape();
    let (t_len, nb, h) = (s[1], s[2], s[3]);
    let (lam, bv, h0, reset) = (values(lam), values(b), values(h0), values(reset));
    let n = nb * h;
    let half = t_len * n;
    let mut hs = vec![0.0f32; 2 * half];
    let (mut pr, mut pi) = (h0[..n].to_vec(), h0[n..].to_vec());
    for t in 0..t_len {
        let o = t * n;
        for r in 0..nb {
            let keep = 1.0 - reset[t * nb + r];
            for j in r * h..(r + 1) * h {
                let u = j - r * h;
                let (lr, li) = (lam[u], lam[h + u]);
                let (a, c) = (keep * pr[j], keep * pi[j]);
                let nr = lr * a - li * c + bv[o + j];
                let ni = lr * c + li * a + bv[half + o + j];
                hs[o + j] = nr;
                hs[half + o + j] = ni;
                pr[j] = nr;
                pi[j] = ni;
            }
        }
    }
    CScanTape {
        t: t_len,
        b: nb,
        h,
        lam,
        h0,
        reset,
        hs,
    }
}

/// `(dlam [2H], db [2, T, B, H], dh0 [2, B, H])` from `dhs [2, T, B, H]`.
fn backward(st: &CScanTape, dhs: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let (nb, h) = (st.b, st.h);
    let n = nb * h;
    let half = st.t * n;
    let mut dlam = vec![0.0f32; 2 * h];
    let mut db = vec![0.0f32; 2 * half];
    let (mut cr, mut ci) = (vec![0.0f32; n], vec![0.0f32; n]);
    for t in (0..st.t).rev() {
        let o = t * n;
        for r in 0..nb {
            let keep = 1.0 - st.reset[t * nb + r];
            for j in r * h..(r + 1) * h {
                let u = j - r * h;
                let (lr, li) = (st.lam[u], st.lam[h + u]);
                let gr = dhs[o + j] + cr[j];
                let gi = dhs[half + o + j] + ci[j];
                db[o + j] = gr;
                db[half + o + j] = gi;
                let (hr, hi) = if t == 0 {
                    (st.h0[j], st.h0[n + j])
                } else {
                    (st.hs[o - n + j], st.hs[half + o - n + j])
                };
                let (ar, ai) = (keep * hr, keep * hi);
                dlam[u] += gr * ar + gi * ai;
                dlam[h + u] += gi * ar - gr * ai;
                cr[j] = keep * (lr * gr + li * gi);
                ci[j] = keep * (lr * gi - li * gr);
            }
        }
    }
    cr.extend_from_slice(&ci);
    (dlam, db, cr)
}

impl FusedComplexScanBackend for Flex {
    fn fused_complex_scan(
        lam: FlexTensor,
        b: FlexTensor,
        h0: FlexTensor,
        reset: FlexTensor,
    ) -> FlexTensor {
        let st = forward(&lam, &b, &h0, &reset);
        FlexTensor::from_data(TensorData::new(st.hs, [2, st.t, st.b, st.h]))
    }
}

#[derive(Debug)]
struct CScanBackward;

impl Backward<Flex, 3> for CScanBackward {
    type State = Arc<CScanTape>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [lam_node, b_node, h0_node] = ops.parents;
        let dhs = values(&grads.consume::<Flex>(&ops.node));
        let st = ops.state;
        let (dlam, db, dh0) = backward(&st, &dhs);
        let reg = |grads: &mut Gradients, node: Option<_>, v: Vec<f32>, shape: Vec<usize>| {
            if let Some(node) = node {
                let node: burn::backend::autodiff::NodeId = node;
                grads.register::<Flex>(node, FlexTensor::from_data(TensorData::new(v, shape)));
            }
        };
        reg(grads, lam_node.map(|n| n.id), dlam, vec![2, st.h]);
        reg(grads, b_node.map(|n| n.id), db, vec![2, st.t, st.b, st.h]);
        reg(grads, h0_node.map(|n| n.id), dh0, vec![2, st.b, st.h]);
    }
}

impl<C: CheckpointStrategy> FusedComplexScanBackend for Autodiff<Flex, C> {
    fn fused_complex_scan(
        lam: FloatTensor<Self>,
        b: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [lam.node(), b.node(), h0.node()];
        let (lam, b, h0, reset) = (
            lam.primitive(),
            b.primitive(),
            h0.primitive(),
            reset.primitive(),
        );
        match CScanBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let st = forward(lam, b, h0, reset);
                let out =
                    FlexTensor::from_data(TensorData::new(st.hs.clone(), [2, st.t, st.b, st.h]));
                prep.finish(Arc::new(st), out)
            }
            OpsKind::UnTracked(prep) => {
                let st = forward(lam, b, h0, reset);
                prep.finish(FlexTensor::from_data(TensorData::new(
                    st.hs,
                    [2, st.t, st.b, st.h],
                )))
            }
        }
    }
}

/// The fused scan when every input is an f32 tensor on Flex, else `None` (callers fall back to
/// per-step ops). `lam`: `(re, im)` `[H]`; `b`: `(re, im)` `[T, B, H]`; `h0`: `(re, im)` `[B, H]`;
/// `reset: [T, B]` (no gradient). Returns `(re, im)` `[T, B, H]`.
pub fn complex_scan(
    lam: &(Tensor<1>, Tensor<1>),
    b: &(Tensor<3>, Tensor<3>),
    h0: &(Tensor<2>, Tensor<2>),
    reset: &Tensor<2>,
) -> Option<(Tensor<3>, Tensor<3>)> {
    let [t, nb, h] = b.0.dims();
    let devices = [
        lam.0.device(),
        lam.1.device(),
        b.0.device(),
        b.1.device(),
        h0.0.device(),
        h0.1.device(),
        reset.device(),
    ];
    let dtypes = [
        lam.0.dtype(),
        lam.1.dtype(),
        b.0.dtype(),
        b.1.dtype(),
        h0.0.dtype(),
        h0.1.dtype(),
        reset.dtype(),
    ];
    if t == 0
        || !devices.iter().all(super::uses_fused_kernels)
        || dtypes != [DType::F32; 7]
        || lam.0.dims() != [h]
        || h0.0.dims() != [nb, h]
    {
        return None;
    }
    let lam = Tensor::stack::<2>(vec![lam.0.clone(), lam.1.clone()], 0);
    let bs = Tensor::stack::<4>(vec![b.0.clone(), b.1.clone()], 0);
    let h0 = Tensor::stack::<3>(vec![h0.0.clone(), h0.1.clone()], 0);
    let out: Tensor<4> =
        Tensor::from_dispatch(<Dispatch as FusedComplexScanBackend>::fused_complex_scan(
            lam.into_dispatch(),
            bs.into_dispatch(),
            h0.into_dispatch(),
            reset.clone().detach().into_dispatch(),
        ));
    let part = |i: usize| out.clone().narrow(0, i, 1).reshape([t, nb, h]);
    Some((part(0), part(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::scan::complex_diag_scan_reference;
    use burn::tensor::Distribution;

    #[test]
    fn fused_complex_scan_matches_reference_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let (t, b, h) = (8, 3, 4);
        let r1 =
            |s: [usize; 1], lo: f64| Tensor::<1>::random(s, Distribution::Uniform(lo, 0.9), &plain);
        let n3 = || Tensor::<3>::random([t, b, h], Distribution::Normal(0.0, 1.0), &plain);
        let n2 = || Tensor::<2>::random([b, h], Distribution::Normal(0.0, 1.0), &plain);
        let (lr, li) = (r1([h], 0.0), r1([h], -0.9));
        let (br, bi, h0r, h0i) = (n3(), n3(), n2(), n2());
        let (wr, wi) = (n3(), n3());
        let mut rv = vec![0.0f32; t * b];
        rv[2 * b + 1] = 1.0;
        rv[5 * b] = 1.0;
        let reset = Tensor::<2>::from_data(TensorData::new(rv, [t, b]), &plain).autodiff();
        let leaf1 = |x: &Tensor<1>| x.clone().autodiff().require_grad();
        let leaf2 = |x: &Tensor<2>| x.clone().autodiff().require_grad();
        let leaf3 = |x: &Tensor<3>| x.clone().autodiff().require_grad();
        let run = |fused: bool| {
            let lam = (leaf1(&lr), leaf1(&li));
            let bb = (leaf3(&br), leaf3(&bi));
            let h0 = (leaf2(&h0r), leaf2(&h0i));
            let (yr, yi) = if fused {
                complex_scan(&lam, &bb, &h0, &reset).expect("fused path on flex")
            } else {
                complex_diag_scan_reference(lam.clone(), bb.clone(), &reset, h0.clone())
            };
            let loss = (yr.clone() * wr.clone().autodiff()).sum()
                + (yi.clone() * wi.clone().autodiff()).sum();
            let g = loss.backward();
            let flat = |x: Tensor<3>| x.reshape([t * b * h]);
            let mut v = vec![flat(yr), flat(yi)];
            v.push(lam.0.grad(&g).expect("grad"));
            v.push(lam.1.grad(&g).expect("grad"));
            v.push(flat(bb.0.grad(&g).expect("grad")));
            v.push(flat(bb.1.grad(&g).expect("grad")));
            v.push(h0.0.grad(&g).expect("grad").reshape([b * h]));
            v.push(h0.1.grad(&g).expect("grad").reshape([b * h]));
            v.into_iter()
                .map(|x| {
                    x.into_data()
                        .convert::<f32>()
                        .try_to_vec::<f32>()
                        .expect("f32")
                })
                .collect::<Vec<_>>()
        };
        let (a, r) = (run(true), run(false));
        for (k, (x, y)) in a.iter().zip(&r).enumerate() {
            let d = x
                .iter()
                .zip(y)
                .map(|(p, q)| (p - q).abs())
                .fold(0.0f32, f32::max);
            assert!(d < 1e-4, "output {k} differs by {d}");
        }
    }
}
