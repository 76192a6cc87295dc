//! Fused multi-head attention over key windows, `softmax(Q Kᵀ / √d + ALiBi) V`, as one custom op
//! with a hand-written backward.
//!
//! The mask is structured, not a dense `[B, H, T, L]` bias: each query sees at most two ranges of
//! keys ([`Windows`]; for GTrXL, its segment-memory rows and its window of cache and new steps)
//! and the positional bias is ALiBi's `−slope · (query position − key position)`. As a dense bias,
//! building, copying and scanning the mask and zero-filling `[B, H, T, L]` probabilities were a
//! quarter of the attention's time. Here queries go in blocks of [`QUERY_BLOCK`]; a block
//! multiplies only the key columns some row of it sees (its *runs*), its probabilities are stored
//! compactly over those columns, and the softmax exponentiates each row's visible keys only.
//! Heads are read and written in place through strided products (the `gemm` crate takes
//! arbitrary strides); queries and outputs are time-major `[T, B, F]`, the layout of the
//! sequence, so neither is transposed. With `S = Q Kᵀ/√d + bias`, `P = softmax(S)`, `O = P V`:
//! `dP = dO Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS K/√d`, `dK = dSᵀ Q/√d`, `dV = Pᵀ dO`.

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

use super::math::{Mat, matmul_strided};
use super::softmax::{Segments, softmax_grad_rows, softmax_segments};
use super::{contiguous, f32s};

/// Which keys each query sees, and the ALiBi slopes: the structured form of a window mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Windows {
    /// Batch rows `B`.
    pub b: usize,
    /// Queries per batch row `T`.
    pub t: usize,
    /// Keys per batch row `L`.
    pub l: usize,
    /// Visible key ranges `[lo, hi)` of query `i` of batch row `bi`, at `bi · T + i`: ascending,
    /// non-overlapping, within `L`; an empty range is `(0, 0)`.
    pub ranges: Vec<Segments>,
    /// ALiBi slope per head (0: no positional bias); its length is the head count `H`.
    pub slopes: Vec<f32>,
    /// Position of each query on the timeline `[T]`.
    pub qpos: Vec<f32>,
    /// Position of each key on the timeline `[L]`.
    pub kpos: Vec<f32>,
}

impl Windows {
    /// Heads `H`.
    pub fn heads(&self) -> usize {
        self.slopes.len()
    }

    /// The dense additive bias `[B, H, T, L]` these windows stand for: `−slope · (qpos − kpos)`
    /// on visible keys, `−1e9` elsewhere (the reference path's mask).
    pub fn dense_bias(&self) -> Vec<f32> {
        let (t, l, h) = (self.t, self.l, self.heads());
        let mut bias = vec![-1.0e9f32; self.b * h * t * l];
        for bi in 0..self.b {
            for i in 0..t {
                for (hi, &slope) in self.slopes.iter().enumerate() {
                    let row = &mut bias[((bi * h + hi) * t + i) * l..][..l];
                    for &(lo, hi_) in &self.ranges[bi * t + i] {
                        for (j, x) in row.iter_mut().enumerate().take(hi_).skip(lo) {
                            *x = -slope * (self.qpos[i] - self.kpos[j]);
                        }
                    }
                }
            }
        }
        bias
    }

    /// Panics unless the ranges and positions fit `B`, `T`, `L` and every query sees a key.
    fn validate(&self) {
        assert_eq!(
            self.ranges.len(),
            self.b * self.t,
            "windows: one entry per query"
        );
        assert_eq!(self.qpos.len(), self.t, "windows: one position per query");
        assert_eq!(self.kpos.len(), self.l, "windows: one position per key");
        for r in &self.ranges {
            let [(a0, a1), (b0, b1)] = *r;
            assert!(
                a0 <= a1 && b0 <= b1 && b1 <= self.l,
                "windows: range outside the keys"
            );
            assert!(
                a1 <= b0 || b0 == b1,
                "windows: ranges overlap or are out of order"
            );
            assert!(a1 > a0 || b1 > b0, "windows: a query sees no key");
        }
    }
}

/// The fused attention op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedAttentionBackend: Backend {
    /// `q: [T, B, F]`, `k, v: [B, L, F]` → `[T, B, F]` (`H` heads of width `F / H`), each query
    /// over its `windows`.
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        windows: Arc<Windows>,
    ) -> FloatTensor<Self>;
}

/// Queries per block: each block of query rows multiplies only the key columns that some row of
/// the block can see.
const QUERY_BLOCK: usize = 32;

/// Key runs closer than this are multiplied as one (one product instead of two).
const MERGE_GAP: usize = 16;

/// One query block of one batch row: its rows, the key columns `runs` that some row sees, their
/// total `width` (the row length of the block's compact probabilities) and each row's visible
/// columns in those compact coordinates.
#[derive(Debug)]
struct Block {
    i0: usize,
    i1: usize,
    runs: Vec<(usize, usize)>,
    width: usize,
    segs: Vec<Segments>,
}

impl Block {
    fn rows(&self) -> usize {
        self.i1 - self.i0
    }

    /// The runs with their offsets in the compact columns.
    fn compact_runs(&self) -> impl Iterator<Item = (usize, (usize, usize))> + '_ {
        self.runs.iter().scan(0, |o, &(c0, c1)| {
            let at = *o;
            *o += c1 - c0;
            Some((at, (c0, c1)))
        })
    }
}

/// The query blocks of every batch row, `[B][T / QUERY_BLOCK]` flattened.
fn plan(w: &Windows) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for bi in 0..w.b {
        for i0 in (0..w.t).step_by(QUERY_BLOCK) {
            let i1 = (i0 + QUERY_BLOCK).min(w.t);
            let rows = &w.ranges[bi * w.t + i0..bi * w.t + i1];
            spans.clear();
            spans.extend(rows.iter().flatten().filter(|&&(a, b)| b > a).copied());
            spans.sort_unstable();
            let mut runs: Vec<(usize, usize)> = Vec::new();
            for &(a, b) in &spans {
                match runs.last_mut() {
                    Some(last) if a < last.1 + MERGE_GAP => last.1 = last.1.max(b),
                    _ => runs.push((a, b)),
                }
            }
            let mut starts = Vec::with_capacity(runs.len());
            let mut width = 0;
            for &(c0, c1) in &runs {
                starts.push(width);
                width += c1 - c0;
            }
            // a row's range lies inside one run: the last run starting at or before it
            let to_compact = |(a, b): (usize, usize)| {
                if a == b {
                    return (0, 0);
                }
                let r = runs.partition_point(|&(c0, _)| c0 <= a) - 1;
                let at = starts[r] + a - runs[r].0;
                (at, at + b - a)
            };
            let segs = rows.iter().map(|r| r.map(to_compact)).collect();
            blocks.push(Block {
                i0,
                i1,
                runs,
                width,
                segs,
            });
        }
    }
    blocks
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
    /// Rows `i0 .. i0 + n` of head `hi` of batch row `bi` of the time-major `[T, B, F]` `x`.
    fn query_rows<'a>(&self, x: &'a [f32], bi: usize, hi: usize, i0: usize, n: usize) -> Mat<'a> {
        let at = (i0 * self.b + bi) * self.f + hi * self.dh();
        Mat::strided(&x[at..], n, self.dh(), (self.b * self.f) as isize, 1)
    }
    /// Offset of query row `i0` of head `hi`, batch row `bi` in a time-major buffer.
    fn query_at(&self, bi: usize, hi: usize, i0: usize) -> usize {
        (i0 * self.b + bi) * self.f + hi * self.dh()
    }
    /// Keys `c0 .. c1` of head `hi` of batch row `bi` of the `[B, L, F]` `x`.
    fn key_rows<'a>(
        &self,
        x: &'a [f32],
        bi: usize,
        hi: usize,
        (c0, c1): (usize, usize),
    ) -> Mat<'a> {
        Mat::strided(
            &x[self.key_at(bi, hi, c0)..],
            c1 - c0,
            self.dh(),
            self.f as isize,
            1,
        )
    }
    /// Offset of key `c0` of head `hi`, batch row `bi` in a `[B, L, F]` buffer.
    fn key_at(&self, bi: usize, hi: usize, c0: usize) -> usize {
        (bi * self.l + c0) * self.f + hi * self.dh()
    }
}

/// What the backward pass needs.
#[derive(Debug)]
struct AttentionTape {
    d: Dims,
    q: FlexTensor,
    k: FlexTensor,
    v: FlexTensor,
    blocks: Vec<Block>,
    /// Compact probabilities: for each batch row, head and block (in that order), its
    /// `rows × width` matrix.
    p: Vec<f32>,
}

/// Calls `f(bi, hi, block, offset of its probabilities)` over every block of every head.
fn each_block(d: Dims, blocks: &[Block], mut f: impl FnMut(usize, usize, &Block, usize)) {
    let per_row = blocks.len() / d.b.max(1);
    let mut at = 0;
    for bi in 0..d.b {
        let row_blocks = &blocks[bi * per_row..(bi + 1) * per_row];
        for hi in 0..d.h {
            for blk in row_blocks {
                f(bi, hi, blk, at);
                at += blk.rows() * blk.width;
            }
        }
    }
}

/// Forward: the time-major output `[T, B, F]` and the tape's compact probabilities.
fn forward_host(
    d: Dims,
    w: &Windows,
    blocks: &[Block],
    q: &[f32],
    k: &[f32],
    v: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let total: usize = d.h * blocks.iter().map(|b| b.rows() * b.width).sum::<usize>();
    let mut out = vec![0.0f32; d.t * d.b * d.f];
    let mut p = vec![0.0f32; total];
    let mut s = Vec::new();
    let mut kb = Vec::new();
    each_block(d, blocks, |bi, hi, blk, at| {
        let (n, wd) = (blk.rows(), blk.width);
        let qb = d.query_rows(q, bi, hi, blk.i0, n);
        s.resize(n * wd, 0.0);
        kb.clear();
        for (o, run) in blk.compact_runs() {
            matmul_strided(
                &mut s[o..],
                wd as isize,
                qb,
                d.key_rows(k, bi, hi, run).t(),
                false,
                d.scale(),
            );
            kb.extend(w.kpos[run.0..run.1].iter().map(|&x| w.slopes[hi] * x));
        }
        let pb = &mut p[at..at + n * wd];
        softmax_segments(&s[..n * wd], pb, wd, &kb, &blk.segs);
        let o_at = d.query_at(bi, hi, blk.i0);
        for (r, (o, run)) in blk.compact_runs().enumerate() {
            matmul_strided(
                &mut out[o_at..],
                (d.b * d.f) as isize,
                Mat::strided(&pb[o..], n, run.1 - run.0, wd as isize, 1),
                d.key_rows(v, bi, hi, run),
                r > 0,
                1.0,
            );
        }
    });
    (out, p)
}

/// Backward: `(dq, dk, dv)` from the time-major `do: [T, B, F]`.
fn backward_host(tape: &AttentionTape, dout: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = tape.d;
    let (q, k, v) = (f32s(&tape.q), f32s(&tape.k), f32s(&tape.v));
    let mut dq = vec![0.0f32; d.t * d.b * d.f];
    let mut dk = vec![0.0f32; d.b * d.l * d.f];
    let mut dv = vec![0.0f32; d.b * d.l * d.f];
    let mut ds = Vec::new();
    let qs = (d.b * d.f) as isize;
    each_block(d, &tape.blocks, |bi, hi, blk, at| {
        let (n, wd) = (blk.rows(), blk.width);
        let pb = &tape.p[at..at + n * wd];
        let dob = d.query_rows(dout, bi, hi, blk.i0, n);
        let qb = d.query_rows(q, bi, hi, blk.i0, n);
        ds.resize(n * wd, 0.0);
        for (o, run) in blk.compact_runs() {
            let pr = Mat::strided(&pb[o..], n, run.1 - run.0, wd as isize, 1);
            // dV = Pᵀ dO
            matmul_strided(
                &mut dv[d.key_at(bi, hi, run.0)..],
                d.f as isize,
                pr.t(),
                dob,
                true,
                1.0,
            );
            // dP = dO Vᵀ
            matmul_strided(
                &mut ds[o..],
                wd as isize,
                dob,
                d.key_rows(v, bi, hi, run).t(),
                false,
                1.0,
            );
        }
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)); 0 wherever P is
        softmax_grad_rows(pb, &mut ds[..n * wd], wd);
        let q_at = d.query_at(bi, hi, blk.i0);
        for (o, run) in blk.compact_runs() {
            let dsr = Mat::strided(&ds[o..], n, run.1 - run.0, wd as isize, 1);
            // dQ = dS K / √d ; dK = dSᵀ Q / √d
            matmul_strided(
                &mut dq[q_at..],
                qs,
                dsr,
                d.key_rows(k, bi, hi, run),
                true,
                d.scale(),
            );
            matmul_strided(
                &mut dk[d.key_at(bi, hi, run.0)..],
                d.f as isize,
                dsr.t(),
                qb,
                true,
                d.scale(),
            );
        }
    });
    (dq, dk, dv)
}

fn forward(
    q: &FlexTensor,
    k: &FlexTensor,
    v: &FlexTensor,
    w: &Windows,
) -> (AttentionTape, FlexTensor) {
    let (qs, ks) = (q.shape(), k.shape());
    let d = Dims {
        t: qs[0],
        b: qs[1],
        f: qs[2],
        l: ks[1],
        h: w.heads(),
    };
    let (q, k, v) = (contiguous(q), contiguous(k), contiguous(v));
    let blocks = plan(w);
    let (out, p) = forward_host(d, w, &blocks, f32s(&q), f32s(&k), f32s(&v));
    let out = FlexTensor::from_data(TensorData::new(out, [d.t, d.b, d.f]));
    (
        AttentionTape {
            d,
            q,
            k,
            v,
            blocks,
            p,
        },
        out,
    )
}

impl FusedAttentionBackend for Flex {
    fn fused_attention(
        q: FlexTensor,
        k: FlexTensor,
        v: FlexTensor,
        windows: Arc<Windows>,
    ) -> FlexTensor {
        forward(&q, &k, &v, &windows).1
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
        for (node, g, shape) in [
            (q_node, dq, [d.t, d.b, d.f]),
            (k_node, dk, [d.b, d.l, d.f]),
            (v_node, dv, [d.b, d.l, d.f]),
        ] {
            if let Some(node) = node {
                let g = FlexTensor::from_data(TensorData::new(g, shape));
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
        windows: Arc<Windows>,
    ) -> FloatTensor<Self> {
        let nodes = [q.node(), k.node(), v.node()];
        let (q, k, v) = (q.primitive(), k.primitive(), v.primitive());
        match AttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (tape, out) = forward(q, k, v, &windows);
                prep.finish(Arc::new(tape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(q, k, v, &windows).1),
        }
    }
}

/// `softmax(Q Kᵀ/√(F/H) + bias) V` per head over each query's `windows`, for time-major
/// `q: [T, B, F]` and `k, v: [B, L, F]` (no gradient flows to the mask or the ALiBi bias): one
/// fused op on Flex, burn ops elsewhere. Returns `[T, B, F]`.
pub fn attention(q: Tensor<3>, k: Tensor<3>, v: Tensor<3>, windows: Windows) -> Tensor<3> {
    let [t, b, f] = q.dims();
    let [_, l, _] = k.dims();
    let h = windows.heads();
    assert_eq!(k.dims(), [b, l, f], "attention: k must be [{b}, L, {f}]");
    assert_eq!(v.dims(), [b, l, f], "attention: v must match k");
    assert_eq!(
        (windows.b, windows.t, windows.l),
        (b, t, l),
        "attention: windows must be [{b}, {t}, {l}]"
    );
    assert!(
        h > 0 && f % h == 0,
        "attention: width {f} not divisible by {h} heads"
    );
    windows.validate();
    if b * t * l == 0 || !super::all_fusable(&[&q, &k, &v]) {
        let device = q.device();
        let bias =
            Tensor::<4>::from_data(TensorData::new(windows.dense_bias(), [b, h, t, l]), &device);
        return attention_reference(q.swap_dims(0, 1), k, v, bias).swap_dims(0, 1);
    }
    Tensor::from_dispatch(<Dispatch as FusedAttentionBackend>::fused_attention(
        q.into_dispatch(),
        k.into_dispatch(),
        v.into_dispatch(),
        Arc::new(windows),
    ))
}

/// The same maths as burn ops with a dense bias, for `q: [B, T, F]`, `k, v: [B, L, F]`,
/// `bias: [B, H, T, L]` (fallback and test oracle). Returns `[B, T, F]`.
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
        // one causal range of 5 keys per query, no positional bias
        check_against_reference((2, 7, 9, 8, 2), &[0.0, 0.0], |_, i| {
            [(0, 0), (i.saturating_sub(4), i + 1)]
        });
        // GTrXL-like: memory rows and a window over cache + new steps far apart (two runs per
        // block), several query blocks (the last one partial), some rows without memory, ALiBi
        check_against_reference((2, 70, 200, 8, 2), &[0.5, 0.125], |bi, i| {
            let memory = if bi == 1 && i % 3 == 0 {
                (0, 0)
            } else {
                (i, i + 20)
            };
            [memory, (100 + i, 131 + i)]
        });
        // ranges close enough to share one run: the columns between them are masked inside it
        check_against_reference((1, 40, 90, 8, 2), &[0.25, 0.0], |_, i| {
            [(i, i + 20), (i + 25, i + 40 + i % 7)]
        });
    }

    /// Fused attention against burn ops with the dense bias for `(b, t, l, f, h)`, per-head
    /// ALiBi `slopes` and `ranges(batch row, query)`.
    fn check_against_reference(
        (b, t, l, f, h): (usize, usize, usize, usize, usize),
        slopes: &[f32],
        ranges: impl Fn(usize, usize) -> Segments,
    ) {
        assert_eq!(slopes.len(), h);
        let windows = Windows {
            b,
            t,
            l,
            ranges: (0..b * t).map(|x| ranges(x / t, x % t)).collect(),
            slopes: slopes.to_vec(),
            qpos: (0..t).map(|i| (i + 50) as f32).collect(),
            kpos: (0..l).map(|j| j as f32).collect(),
        };
        let dev = burn::tensor::Device::flex().autodiff();
        let plain = dev.clone().inner();
        let r = |s: [usize; 3]| Tensor::<3>::random(s, Distribution::Normal(0.0, 1.0), &plain);
        let (q, k, v) = (r([t, b, f]), r([b, l, f]), r([b, l, f]));
        let bias =
            Tensor::<4>::from_data(TensorData::new(windows.dense_bias(), [b, h, t, l]), &plain);
        let w = r([t, b, f]);
        let leaf = |x: &Tensor<3>| x.clone().autodiff().require_grad();
        let (qa, ka, va) = (leaf(&q), leaf(&k), leaf(&v));
        let (qb, kb, vb) = (leaf(&q), leaf(&k), leaf(&v));
        let ya = attention(qa.clone(), ka.clone(), va.clone(), windows);
        let yb = attention_reference(
            qb.clone().swap_dims(0, 1),
            kb.clone(),
            vb.clone(),
            bias.autodiff(),
        )
        .swap_dims(0, 1);
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

    #[test]
    fn blocks_cover_each_rows_window_in_compact_columns() {
        let w = Windows {
            b: 1,
            t: 3,
            l: 60,
            ranges: vec![[(0, 4), (40, 42)], [(1, 5), (41, 43)], [(0, 0), (42, 44)]],
            slopes: vec![0.0],
            qpos: vec![0.0; 3],
            kpos: vec![0.0; 60],
        };
        let blocks = plan(&w);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].runs, vec![(0, 5), (40, 44)]);
        assert_eq!(blocks[0].width, 9);
        assert_eq!(
            blocks[0].segs,
            vec![[(0, 4), (5, 7)], [(1, 5), (6, 8)], [(0, 0), (7, 9)]]
        );
    }
}
