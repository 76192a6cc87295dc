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

use super::math::{Mat, matmul_strided};
use super::softmax::{softmax_grad_runs, softmax_runs};
use super::{contiguous, f32s};

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

/// Rows `r0 .. r0 + n` of head `hi` of batch row `bi` of a `[B, rows, F]` buffer, as an
/// `n × dh` matrix view.
fn head_rows<'a>(
    x: &'a [f32],
    d: Dims,
    rows: usize,
    bi: usize,
    hi: usize,
    r0: usize,
    n: usize,
) -> Mat<'a> {
    let at = (bi * rows + r0) * d.f + hi * d.dh();
    Mat::strided(&x[at..], n, d.dh(), d.f as isize, 1)
}

/// Queries per block: each block of query rows multiplies only the key columns that some row of
/// the block can see.
const QUERY_BLOCK: usize = 32;

/// Probabilities at or below this are left out of the backward: masked keys get `exp` of the
/// clamped input (~1e-38), far below f32 resolution next to any visible key's terms.
const NEGLIGIBLE: f32 = 1.0e-30;

/// A bias at or below this masks its key (its probability underflows to exactly 0).
const MASKED: f32 = -1.0e8;

/// Column runs `[c0, c1)` of the `rows × l` row-major block where some row is `active`; runs
/// separated by fewer than 16 inactive columns are merged (one product instead of two).
fn active_runs(
    block: &[f32],
    l: usize,
    active: impl Fn(f32) -> bool,
    any: &mut Vec<bool>,
) -> Vec<(usize, usize)> {
    any.clear();
    any.resize(l, false);
    for row in block.chunks_exact(l) {
        for (a, &x) in any.iter_mut().zip(row) {
            *a |= active(x);
        }
    }
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut c = 0;
    while c < l {
        if !any[c] {
            c += 1;
            continue;
        }
        let c0 = c;
        while c < l && any[c] {
            c += 1;
        }
        match runs.last_mut() {
            Some(last) if c0 - last.1 < 16 => last.1 = c,
            _ => runs.push((c0, c)),
        }
    }
    runs
}

/// Query blocks `[i0, i1)` of `t` rows.
fn query_blocks(t: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..t)
        .step_by(QUERY_BLOCK)
        .map(move |i0| (i0, (i0 + QUERY_BLOCK).min(t)))
}

/// Forward: returns the output `[B, T, F]` and the probabilities `[B, H, T, L]`. Key columns no
/// row of a query block sees are neither multiplied nor exponentiated (probability 0).
fn forward_host(d: Dims, q: &[f32], k: &[f32], v: &[f32], bias: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (t, l) = (d.t, d.l);
    let mut out = vec![0.0f32; d.b * t * d.f];
    let mut p = vec![0.0f32; d.b * d.h * t * l];
    let mut s = vec![0.0f32; t * l];
    let mut any = Vec::new();
    for bi in 0..d.b {
        for hi in 0..d.h {
            let at = (bi * d.h + hi) * t * l;
            for (i0, i1) in query_blocks(t) {
                let n = i1 - i0;
                let rows = i0 * l..i1 * l;
                let runs = active_runs(
                    &bias[at + rows.start..at + rows.end],
                    l,
                    |x| x > MASKED,
                    &mut any,
                );
                let qb = head_rows(q, d, t, bi, hi, i0, n);
                // scores: the bias, plus Q Kᵀ/√d on the runs (softmax reads only the runs)
                for r in i0..i1 {
                    for &(c0, c1) in &runs {
                        s[r * l + c0..r * l + c1]
                            .copy_from_slice(&bias[at + r * l + c0..at + r * l + c1]);
                    }
                }
                for &(c0, c1) in &runs {
                    matmul_strided(
                        &mut s[i0 * l + c0..],
                        l as isize,
                        qb,
                        head_rows(k, d, l, bi, hi, c0, c1 - c0).t(),
                        true,
                        d.scale(),
                    );
                }
                softmax_runs(
                    &s[rows.clone()],
                    &mut p[at + rows.start..at + rows.end],
                    l,
                    &runs,
                );
                let o_at = (bi * t + i0) * d.f + hi * d.dh();
                for (r, &(c0, c1)) in runs.iter().enumerate() {
                    matmul_strided(
                        &mut out[o_at..],
                        d.f as isize,
                        Mat::strided(&p[at + i0 * l + c0..], n, c1 - c0, l as isize, 1),
                        head_rows(v, d, l, bi, hi, c0, c1 - c0),
                        r > 0,
                        1.0,
                    );
                }
            }
        }
    }
    (out, p)
}

/// Backward: `(dq, dk, dv)` from `do: [B, T, F]`. Per query block only the key columns with a
/// probability above [`NEGLIGIBLE`] contribute (every term of `dS`, `dV` and `dK` carries a
/// factor `P`).
fn backward_host(tape: &AttentionTape, dout: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = tape.d;
    let (t, l) = (d.t, d.l);
    let (q, k, v) = (f32s(&tape.q), f32s(&tape.k), f32s(&tape.v));
    let mut dq = vec![0.0f32; d.b * t * d.f];
    let mut dk = vec![0.0f32; d.b * l * d.f];
    let mut dv = vec![0.0f32; d.b * l * d.f];
    let mut ds = vec![0.0f32; QUERY_BLOCK * l];
    let mut any = Vec::new();
    for bi in 0..d.b {
        for hi in 0..d.h {
            let at = (bi * d.h + hi) * t * l;
            for (i0, i1) in query_blocks(t) {
                let n = i1 - i0;
                let pb = &tape.p[at + i0 * l..at + i1 * l];
                let runs = active_runs(pb, l, |x| x > NEGLIGIBLE, &mut any);
                let dob = head_rows(dout, d, t, bi, hi, i0, n);
                let qb = head_rows(q, d, t, bi, hi, i0, n);
                let ds = &mut ds[..n * l];
                ds.fill(0.0);
                for &(c0, c1) in &runs {
                    let kv_at = (bi * l + c0) * d.f + hi * d.dh();
                    let pr = Mat::strided(&pb[c0..], n, c1 - c0, l as isize, 1);
                    // dV = Pᵀ dO
                    matmul_strided(&mut dv[kv_at..], d.f as isize, pr.t(), dob, true, 1.0);
                    // dP = dO Vᵀ
                    matmul_strided(
                        &mut ds[c0..],
                        l as isize,
                        dob,
                        head_rows(v, d, l, bi, hi, c0, c1 - c0).t(),
                        false,
                        1.0,
                    );
                }
                softmax_grad_runs(pb, ds, l, &runs);
                let q_at = (bi * t + i0) * d.f + hi * d.dh();
                for &(c0, c1) in &runs {
                    let kv_at = (bi * l + c0) * d.f + hi * d.dh();
                    let dsr = Mat::strided(&ds[c0..], n, c1 - c0, l as isize, 1);
                    // dQ = dS K / √d ; dK = dSᵀ Q / √d
                    matmul_strided(
                        &mut dq[q_at..],
                        d.f as isize,
                        dsr,
                        head_rows(k, d, l, bi, hi, c0, c1 - c0),
                        true,
                        d.scale(),
                    );
                    matmul_strided(&mut dk[kv_at..], d.f as isize, dsr.t(), qb, true, d.scale());
                }
            }
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
        // scattered masked entries (one run per query block)
        check_against_reference((2, 3, 7, 8, 2), |i, _, _| i % 5 == 0);
        // GTrXL-like windows over [memory | cache + new] with a wide gap: several query blocks
        // (the last one partial), two separate key runs per block
        check_against_reference((1, 70, 200, 8, 2), |_, row, col| {
            let memory = col >= row && col < row + 20;
            let window = col >= 100 + row && col <= 100 + row + 10;
            !(memory || window)
        });
    }

    /// Fused attention against burn ops for `(b, t, l, f, h)` with `masked(flat index, query
    /// row, key column)` entries of the bias at −1e9.
    fn check_against_reference(
        (b, t, l, f, h): (usize, usize, usize, usize, usize),
        masked: impl Fn(usize, usize, usize) -> bool,
    ) {
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &plain);
        let (q, k, v) = (r([b, t, f]), r([b, l, f]), r([b, l, f]));
        let mut mask = vec![0.0f32; b * h * t * l];
        for (i, m) in mask.iter_mut().enumerate() {
            if masked(i, (i / l) % t, i % l) {
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
