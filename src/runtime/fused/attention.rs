//! Fused multi-head attention core `softmax(Q Kᵀ / √d + bias) V` as one custom op with a
//! hand-written backward.
//!
//! As burn ops, splitting heads, transposing keys, adding the mask and the positional bias, the
//! softmax and merging heads again copy the `[B, H, T, L]` scores and the keys several times per
//! call; in the attention profile those copies and libm's slow `expf` on masked entries were the
//! top entries. Here every head is read and written in place through strided matrix products
//! (the `gemm` crate takes arbitrary strides), and the probabilities are the only tape:
//! with `S = Q Kᵀ/√d + bias`, `P = softmax(S)`, `O = P V`:
//! `dP = dO Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS K/√d`, `dK = dSᵀ Q/√d`, `dV = Pᵀ dO`.
//! No gradient flows to `bias` (masks and ALiBi are constants).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::contiguous;
use super::math::{Mat, matmul_strided};
use super::softmax::{softmax_grad_rows, softmax_rows};

/// The fused attention op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedAttentionBackend: Backend {
    /// `q: [B, T, F]`, `k, v: [B, L, F]`, `bias: [B, H, T, L]` → `[B, T, F]` (`H` heads of
    /// width `F / H`).
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// Sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    h: usize,
    t: usize,
    l: usize,
    f: usize,
}

impl Dims {
    fn dh(&self) -> usize {
        self.f / self.h
    }
    fn scale(&self) -> f32 {
        1.0 / (self.dh() as f32).sqrt()
    }
}

/// What the backward pass needs.
#[derive(Debug)]
struct AttentionTape {
    d: Dims,
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    /// Probabilities `[B, H, T, L]`.
    p: Vec<f32>,
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}

/// Head `hi` of batch row `bi` of a `[B, n, F]` buffer as an `n × dh` matrix view.
fn head<'a>(x: &'a [f32], d: Dims, n: usize, bi: usize, hi: usize) -> Mat<'a> {
    let at = bi * n * d.f + hi * d.dh();
    Mat::strided(&x[at..], n, d.dh(), d.f as isize, 1)
}

/// Forward: returns the output `[B, T, F]` and the probabilities `[B, H, T, L]`.
fn forward_host(d: Dims, q: &[f32], k: &[f32], v: &[f32], bias: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (t, l, dh) = (d.t, d.l, d.dh());
    let mut out = vec![0.0f32; d.b * t * d.f];
    let mut p = vec![0.0f32; d.b * d.h * t * l];
    let mut s = vec![0.0f32; t * l];
    for bi in 0..d.b {
        for hi in 0..d.h {
            let at = (bi * d.h + hi) * t * l;
            s.copy_from_slice(&bias[at..at + t * l]);
            let kh = head(k, d, l, bi, hi);
            matmul_strided(
                &mut s,
                l as isize,
                head(q, d, t, bi, hi),
                kh.t(),
                true,
                d.scale(),
            );
            softmax_rows(&s, &mut p[at..at + t * l], l);
            let o_at = bi * t * d.f + hi * dh;
            matmul_strided(
                &mut out[o_at..],
                d.f as isize,
                Mat::strided(&p[at..], t, l, l as isize, 1),
                head(v, d, l, bi, hi),
                false,
                1.0,
            );
        }
    }
    (out, p)
}

/// Backward: `(dq, dk, dv)` from `do: [B, T, F]`.
fn backward_host(tape: &AttentionTape, dout: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = tape.d;
    let (t, l, dh) = (d.t, d.l, d.dh());
    let (q, k, v) = (f32s(&tape.q), f32s(&tape.k), f32s(&tape.v));
    let mut dq = vec![0.0f32; d.b * t * d.f];
    let mut dk = vec![0.0f32; d.b * l * d.f];
    let mut dv = vec![0.0f32; d.b * l * d.f];
    let mut ds = vec![0.0f32; t * l];
    for bi in 0..d.b {
        for hi in 0..d.h {
            let at = (bi * d.h + hi) * t * l;
            let p = Mat::strided(&tape.p[at..], t, l, l as isize, 1);
            let doh = head(dout, d, t, bi, hi);
            // dV = Pᵀ dO
            let kv_at = bi * l * d.f + hi * dh;
            matmul_strided(&mut dv[kv_at..], d.f as isize, p.t(), doh, false, 1.0);
            // dP = dO Vᵀ, then dS in place
            matmul_strided(
                &mut ds,
                l as isize,
                doh,
                head(v, d, l, bi, hi).t(),
                false,
                1.0,
            );
            softmax_grad_rows(&tape.p[at..at + t * l], &mut ds, l);
            let dsm = Mat::strided(&ds, t, l, l as isize, 1);
            // dQ = dS K / √d ; dK = dSᵀ Q / √d
            let q_at = bi * t * d.f + hi * dh;
            matmul_strided(
                &mut dq[q_at..],
                d.f as isize,
                dsm,
                head(k, d, l, bi, hi),
                false,
                d.scale(),
            );
            matmul_strided(
                &mut dk[kv_at..],
                d.f as isize,
                dsm.t(),
                head(q, d, t, bi, hi),
                false,
                d.scale(),
            );
        }
    }
    (dq, dk, dv)
}

fn dims_of(q: &FlexTensor, k: &FlexTensor, bias: &FlexTensor) -> Dims {
    let (qs, ks, bs) = (q.shape(), k.shape(), bias.shape());
    Dims {
        b: qs[0],
        t: qs[1],
        f: qs[2],
        l: ks[1],
        h: bs[1],
    }
}

fn forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    bias: &FlexTensor,
) -> (AttentionTape, FlexTensor) {
    let d = dims_of(q, k, bias);
    let (q, k, v, bias) = (
        contiguous(q),
        contiguous(k),
        contiguous(v),
        contiguous(bias),
    );
    let (out, p) = forward_host(d, f32s(&q), f32s(&k), f32s(&v), f32s(&bias));
    let out = FlexTensor::from_data(TensorData::new(out, [d.b, d.t, d.f]));
    (AttentionTape { d, q, k, v, p }, out)
}

impl FusedAttentionBackend for Flex {
    fn fused_attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        bias: FlexTensor,
    ) -> FlexTensor {
        forward(&q, &k, &v, &bias).1
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 3> for AttentionBackward {
    type State = Arc<AttentionTape>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q_node, k_node, v_node] = ops.parents;
        let dout = contiguous(&grads.consume::<Flex>(&ops.node));
        let tape = ops.state;
        let (dq, dk, dv) = backward_host(&tape, f32s(&dout));
        let d = tape.d;
        for (node, g, n) in [(q_node, dq, d.t), (k_node, dk, d.l), (v_node, dv, d.l)] {
            if let Some(node) = node {
                let g = FlexTensor::from_data(TensorData::new(g, [d.b, n, d.f]));
                grads.register::<Flex>(node.id, g);
            }
        }
    }
}

impl<C: CheckpointStrategy> FusedAttentionBackend for Autodiff<Flex, C> {
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [q.node(), k.node(), v.node()];
        let (q, k, v, bias) = (
            q.primitive(),
            k.primitive(),
            v.primitive(),
            bias.primitive(),
        );
        match AttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (tape, out) = forward(q, k, v, bias);
                prep.finish(Arc::new(tape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(q, k, v, bias).1),
        }
    }
}

/// `softmax(Q Kᵀ/√(F/H) + bias) V` per head, for `q: [B, T, F]`, `k, v: [B, L, F]`,
/// `bias: [B, H, T, L]` (additive mask and positional bias; no gradient flows to it):
/// one fused op on Flex, burn ops elsewhere. Returns `[B, T, F]`.
pub fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
    let [b, t, f] = q.dims();
    let [_, l, _] = k.dims();
    let h = bias.dims()[1];
    assert_eq!(k.dims(), [b, l, f], "attention: k must be [{b}, L, {f}]");
    assert_eq!(v.dims(), [b, l, f], "attention: v must match k");
    assert_eq!(
        bias.dims(),
        [b, h, t, l],
        "attention: bias must be [B, H, T, L]"
    );
    assert!(
        h > 0 && f % h == 0,
        "attention: width {f} not divisible by {h} heads"
    );
    let fused = b * t * l > 0 && super::all_fusable(&[&q, &k, &v, &bias]);
    if !fused {
        return attention_reference(q, k, v, bias);
    }
    Tensor::from_dispatch(<Dispatch as FusedAttentionBackend>::fused_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        bias.detach().into_dispatch(),
    ))
}

/// The same maths as burn ops (fallback and test oracle).
pub fn attention_reference(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, bias: Tensor<4>) -> Tensor<3> {
    let [b, t, f] = q.dims();
    let l = k.dims()[1];
    let h = bias.dims()[1];
    let dh = f / h;
    let split = |x: Tensor<3>, n: usize| x.reshape([b, n, h, dh]).swap_dims(1, 2);
    let scores = split(q, t)
        .matmul(split(k, l).swap_dims(2, 3))
        .mul_scalar(1.0 / (dh as f32).sqrt())
        + bias;
    let att = burn::tensor::activation::softmax(scores, 3).matmul(split(v, l));
    att.swap_dims(1, 2).reshape([b, t, f])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn fused_attention_matches_burn_ops_in_value_and_gradient() {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let (b, t, l, f, h) = (2, 3, 7, 8, 2);
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &plain);
        let (q, k, v) = (r([b, t, f]), r([b, l, f]), r([b, l, f]));
        let mut mask = vec![0.0f32; b * h * t * l];
        for (i, m) in mask.iter_mut().enumerate() {
            if i % 5 == 0 {
                *m = -1.0e9;
            }
        }
        let bias = Tensor::<4>::from_data(TensorData::new(mask, [b, h, t, l]), &plain)
            + Tensor::<4>::random([b, h, t, l], Distribution::Normal(0.0, 0.5), &plain);
        let w = r([b, t, f]);
        let leaf = |x: &Tensor<3>| x.clone().autodiff().require_grad();
        let (qa, ka, va) = (leaf(&q), leaf(&k), leaf(&v));
        let (qb, kb, vb) = (leaf(&q), leaf(&k), leaf(&v));
        let ya = attention(qa.clone(), ka.clone(), va.clone(), bias.clone().autodiff());
        let yb = attention_reference(qb.clone(), kb.clone(), vb.clone(), bias.autodiff());
        let d = (ya.clone() - yb.clone()).abs().max().into_scalar::<f32>();
        assert!(d < 1e-5, "values differ by {d}");
        let ga = (ya * w.clone().autodiff()).sum().backward();
        let gb = (yb * w.autodiff()).sum().backward();
        for (xa, xb, name) in [(&qa, &qb, "q"), (&ka, &kb, "k"), (&va, &vb, "v")] {
            let (da, db) = (xa.grad(&ga).expect("grad"), xb.grad(&gb).expect("grad"));
            let d = (da - db).abs().max().into_scalar::<f32>();
            assert!(d < 1e-4, "d{name} differs by {d}");
        }
    }
}
