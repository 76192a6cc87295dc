//! Fused multi-head attention over key windows, `softmax(Q Kᵀ / √d + ALiBi) V`, as one custom op
//! with a hand-written backward.
//!
//! The mask is structured, not a dense `[B, H, T, L]` bias: each query sees at most two ranges of
//! keys ([`Windows`]; for GTrXL, its segment-memory rows and its window of cache and new steps)
//! and the positional bias is ALiBi's `−slope · (query position − key position)`. As a dense bias,
//! building, copying and scanning the mask and zero-filling `[B, H, T, L]` probabilities were a
//! quarter of the attention's time. Here queries go in blocks of [`plan::QUERY_BLOCK`]; a block
//! multiplies only the key columns some row of it sees (its *runs*), its probabilities are stored
//! compactly over those columns, and the softmax exponentiates each row's visible keys only.
//! Heads are read and written in place through strided products; queries and outputs are
//! time-major `[T, B, F]`, the layout of the sequence, so neither is transposed. Keys and values
//! come as up to three [`KvPart`]s side by side (GTrXL: memory rows, cache, and the new steps in
//! their time-major layout), never concatenated; a part that takes no gradient (the cache) skips
//! its `dK` and `dV` products. With `S = Q Kᵀ/√d + bias`, `P = softmax(S)`, `O = P V`:
//! `dP = dO Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = dS K/√d`, `dK = dSᵀ Q/√d`, `dV = Pᵀ dO`.
//!
//! On x86-64 with AVX2 and FMA, heads 8 to 32 wide (by 8) take AVX2 register tiles
//! ([`tiled`]) that follow each group of 4 query rows' own key columns; other calls take the
//! same passes through the `gemm` crate (which takes arbitrary strides).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Tensor, TensorData};

mod plan;
#[cfg(target_arch = "x86_64")]
mod tiled;
#[cfg(target_arch = "x86_64")]
mod tiles;

pub use plan::Windows;
use plan::{Block, plan};

use super::math::{Mat, matmul_strided};
use super::softmax::{softmax_grad_rows, softmax_segments};
use super::{contiguous, f32s};

/// Where one part's keys and values lie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvLayout {
    /// `[B, n, F]`: a cache or memory rows.
    BatchMajor,
    /// `[n, B, F]`: the projections of the sequence itself, in its own layout.
    TimeMajor,
}

/// A run of key columns: keys and values of one shape and layout. The keys of an attention call
/// are its parts side by side (for GTrXL: memory rows, cache, new steps), so that none of them is
/// copied into a concatenated buffer, and no gradient is computed for a part that needs none.
#[derive(Clone, Debug)]
pub struct KvPart {
    /// Keys.
    pub k: Tensor<3>,
    /// Values (the shape of `k`).
    pub v: Tensor<3>,
    /// Layout of both.
    pub layout: KvLayout,
}

impl KvPart {
    /// Key columns of this part (`n`).
    fn len(&self) -> usize {
        let d = self.k.dims();
        match self.layout {
            KvLayout::BatchMajor => d[1],
            KvLayout::TimeMajor => d[0],
        }
    }
    /// The keys and values batch-major, `[B, n, F]` (the reference path's layout).
    pub fn batch_major(self) -> (Tensor<3>, Tensor<3>) {
        match self.layout {
            KvLayout::BatchMajor => (self.k, self.v),
            KvLayout::TimeMajor => (self.k.swap_dims(0, 1), self.v.swap_dims(0, 1)),
        }
    }
}

/// Parts per call: the fused op takes exactly this many (missing ones are empty).
const PARTS: usize = 3;

/// The mask and the layouts of the parts of one call.
#[derive(Debug)]
pub(crate) struct AttentionSpec {
    windows: Windows,
    layouts: [KvLayout; PARTS],
}

/// The fused attention op.
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedAttentionBackend: Backend {
    /// `q: [T, B, F]` and the keys/values of each part (laid out as `spec` says) → `[T, B, F]`
    /// (`H` heads of width `F / H`), each query over its windows.
    #[allow(clippy::too_many_arguments)]
    fn fused_attention(
        q: FloatTensor<Self>,
        k0: FloatTensor<Self>,
        v0: FloatTensor<Self>,
        k1: FloatTensor<Self>,
        v1: FloatTensor<Self>,
        k2: FloatTensor<Self>,
        v2: FloatTensor<Self>,
        spec: Arc<AttentionSpec>,
    ) -> FloatTensor<Self>;
}

/// Sizes of one call.
#[derive(Clone, Copy, Debug)]
struct Dims {
    b: usize,
    h: usize,
    t: usize,
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
}

/// Where one part's key columns lie: from global column `start`, `len` of them, in `layout`.
#[derive(Clone, Copy, Debug)]
struct PartDims {
    start: usize,
    len: usize,
    layout: KvLayout,
}

impl PartDims {
    /// Row stride of the part's buffer.
    fn rs(&self, d: &Dims) -> usize {
        match self.layout {
            KvLayout::BatchMajor => d.f,
            KvLayout::TimeMajor => d.b * d.f,
        }
    }
    /// Offset of the part's local column `c` of head `hi`, batch row `bi`.
    fn at(&self, d: &Dims, bi: usize, hi: usize, c: usize) -> usize {
        let row = match self.layout {
            KvLayout::BatchMajor => bi * self.len + c,
            KvLayout::TimeMajor => c * d.b + bi,
        };
        row * d.f + hi * d.dh()
    }
    /// Local columns `c0 .. c1` of head `hi` of batch row `bi` of the part's buffer `x`.
    fn rows<'a>(&self, d: &Dims, x: &'a [f32], bi: usize, hi: usize, (c0, c1): Run) -> Mat<'a> {
        let at = self.at(d, bi, hi, c0);
        Mat::strided(&x[at..], c1 - c0, d.dh(), self.rs(d) as isize, 1)
    }
}

/// A range of key columns `[c0, c1)`.
type Run = (usize, usize);

/// The pieces of the global key columns `run` that lie in each part: (offset of the piece in the
/// run, part, the piece in the part's local columns).
fn pieces(
    parts: &[PartDims; PARTS],
    (c0, c1): Run,
) -> impl Iterator<Item = (usize, usize, Run)> + '_ {
    parts.iter().enumerate().filter_map(move |(p, pd)| {
        let (a, b) = (c0.max(pd.start), c1.min(pd.start + pd.len));
        (a < b).then(|| (a - c0, p, (a - pd.start, b - pd.start)))
    })
}

/// What the backward pass needs.
#[derive(Debug)]
struct AttentionTape {
    d: Dims,
    parts: [PartDims; PARTS],
    q: FlexTensor,
    k: [FlexTensor; PARTS],
    v: [FlexTensor; PARTS],
    blocks: Vec<Block>,
    /// Compact probabilities: for each batch row, head and block (in that order), its
    /// `rows × width` matrix.
    p: Vec<f32>,
}

impl Drop for AttentionTape {
    /// The probabilities' buffer goes back to this thread's spares (see [`spare_probabilities`]).
    fn drop(&mut self) {
        let p = std::mem::take(&mut self.p);
        SPARE_P.with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARES {
                spare.push(p);
            }
        });
    }
}

/// Probability buffers kept per thread: a minibatch's layers each hold one until its backward.
const SPARES: usize = 4;

thread_local! {
    static SPARE_P: std::cell::RefCell<Vec<Vec<f32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A buffer of at least `len` values for a call's probabilities (read by offset, never by its
/// length), reused from an earlier call's tape when there is one: the softmax writes every value
/// it uses, so a reused buffer is neither zeroed nor shortened (its windows, and so its length,
/// change from minibatch to minibatch; zeroing and faulting in fresh ones took 1% of
/// PPO-GTrXL's time).
fn spare_probabilities(len: usize) -> Vec<f32> {
    let mut p = SPARE_P
        .with(|spare| spare.borrow_mut().pop())
        .unwrap_or_default();
    if p.len() < len {
        p.resize(len, 0.0);
    }
    p
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

/// The host values of one call's inputs.
struct Inputs<'a> {
    q: &'a [f32],
    k: [&'a [f32]; PARTS],
    v: [&'a [f32]; PARTS],
}

/// Forward: the time-major output `[T, B, F]` and the tape's compact probabilities.
fn forward_host(
    (d, parts): (Dims, &[PartDims; PARTS]),
    w: &Windows,
    blocks: &[Block],
    x: &Inputs<'_>,
) -> (Vec<f32>, Vec<f32>) {
    let total: usize = d.h * blocks.iter().map(|b| b.rows() * b.width).sum::<usize>();
    let mut out = vec![0.0f32; d.t * d.b * d.f];
    let mut p = spare_probabilities(total);
    let mut s = Vec::new();
    let mut kb = Vec::new();
    each_block(d, blocks, |bi, hi, blk, at| {
        let (n, wd) = (blk.rows(), blk.width);
        let qb = d.query_rows(x.q, bi, hi, blk.i0, n);
        s.resize(n * wd, 0.0);
        kb.clear();
        for (o, run) in blk.compact_runs() {
            for (o2, pi, local) in pieces(parts, run) {
                let keys = parts[pi].rows(&d, x.k[pi], bi, hi, local);
                matmul_strided(
                    &mut s[o + o2..],
                    wd as isize,
                    qb,
                    keys.t(),
                    false,
                    d.scale(),
                );
            }
            kb.extend(w.kpos[run.0..run.1].iter().map(|&x| w.slopes[hi] * x));
        }
        let pb = &mut p[at..at + n * wd];
        softmax_segments(&s[..n * wd], pb, wd, &kb, &blk.segs);
        let o_at = d.query_at(bi, hi, blk.i0);
        let mut first = true;
        for (o, run) in blk.compact_runs() {
            for (o2, pi, local) in pieces(parts, run) {
                let pr = Mat::strided(&pb[o + o2..], n, local.1 - local.0, wd as isize, 1);
                let values = parts[pi].rows(&d, x.v[pi], bi, hi, local);
                let rs = (d.b * d.f) as isize;
                matmul_strided(&mut out[o_at..], rs, pr, values, !first, 1.0);
                first = false;
            }
        }
    });
    (out, p)
}

/// Forward on the register tiles where they suit the CPU and head width, else through `gemm`.
fn forward_any(
    dp: (Dims, &[PartDims; PARTS]),
    w: &Windows,
    blocks: &[Block],
    x: &Inputs<'_>,
) -> (Vec<f32>, Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if tiled::suits(dp.0.dh()) {
        return tiled::forward(dp, w, blocks, x);
    }
    forward_host(dp, w, blocks, x)
}

/// Backward on the register tiles where they suit, else through `gemm`.
fn backward_any(
    tape: &AttentionTape,
    dout: &[f32],
    need: ([bool; PARTS], [bool; PARTS]),
) -> AttentionGrads {
    #[cfg(target_arch = "x86_64")]
    if tiled::suits(tape.d.dh()) {
        return tiled::backward(tape, dout, need);
    }
    backward_host(tape, dout, need)
}

/// The gradients of one call: `dq` (time-major `[T, B, F]`) and, for each part whose keys or
/// values need one, `dk` and `dv` in the part's layout.
type AttentionGrads = (
    Vec<f32>,
    [Option<Vec<f32>>; PARTS],
    [Option<Vec<f32>>; PARTS],
);

/// Backward from the time-major `do: [T, B, F]`; `need_k[p]`, `need_v[p]`: whether part `p`'s
/// keys, values take a gradient (an untracked part's products are skipped).
fn backward_host(
    tape: &AttentionTape,
    dout: &[f32],
    (need_k, need_v): ([bool; PARTS], [bool; PARTS]),
) -> AttentionGrads {
    let (d, parts) = (tape.d, &tape.parts);
    let q = f32s(&tape.q);
    let (k, v) = (tape.k.each_ref().map(f32s), tape.v.each_ref().map(f32s));
    let mut dq = vec![0.0f32; d.t * d.b * d.f];
    let zeros = |p: usize, need: bool| need.then(|| vec![0.0f32; d.b * parts[p].len * d.f]);
    let mut dk: [Option<Vec<f32>>; PARTS] = std::array::from_fn(|p| zeros(p, need_k[p]));
    let mut dv: [Option<Vec<f32>>; PARTS] = std::array::from_fn(|p| zeros(p, need_v[p]));
    let mut ds = Vec::new();
    let qs = (d.b * d.f) as isize;
    each_block(d, &tape.blocks, |bi, hi, blk, at| {
        let (n, wd) = (blk.rows(), blk.width);
        let pb = &tape.p[at..at + n * wd];
        let dob = d.query_rows(dout, bi, hi, blk.i0, n);
        let qb = d.query_rows(q, bi, hi, blk.i0, n);
        ds.resize(n * wd, 0.0);
        for (o, run) in blk.compact_runs() {
            for (o2, pi, local) in pieces(parts, run) {
                let part = &parts[pi];
                let pr = Mat::strided(&pb[o + o2..], n, local.1 - local.0, wd as isize, 1);
                // dV = Pᵀ dO
                if let Some(dv) = &mut dv[pi] {
                    let at = part.at(&d, bi, hi, local.0);
                    matmul_strided(&mut dv[at..], part.rs(&d) as isize, pr.t(), dob, true, 1.0);
                }
                // dP = dO Vᵀ
                let values = part.rows(&d, v[pi], bi, hi, local);
                matmul_strided(&mut ds[o + o2..], wd as isize, dob, values.t(), false, 1.0);
            }
        }
        // dS = P ⊙ (dP − rowsum(dP ⊙ P)); 0 wherever P is
        softmax_grad_rows(pb, &mut ds[..n * wd], wd);
        let q_at = d.query_at(bi, hi, blk.i0);
        for (o, run) in blk.compact_runs() {
            for (o2, pi, local) in pieces(parts, run) {
                let part = &parts[pi];
                let dsr = Mat::strided(&ds[o + o2..], n, local.1 - local.0, wd as isize, 1);
                // dQ = dS K / √d ; dK = dSᵀ Q / √d
                let keys = part.rows(&d, k[pi], bi, hi, local);
                matmul_strided(&mut dq[q_at..], qs, dsr, keys, true, d.scale());
                if let Some(dk) = &mut dk[pi] {
                    let at = part.at(&d, bi, hi, local.0);
                    let rs = part.rs(&d) as isize;
                    matmul_strided(&mut dk[at..], rs, dsr.t(), qb, true, d.scale());
                }
            }
        }
    });
    (dq, dk, dv)
}

/// The part geometry of a call from its tensors' shapes.
fn part_dims(kv: &[&FlexTensor; 2 * PARTS], layouts: &[KvLayout; PARTS]) -> [PartDims; PARTS] {
    let mut start = 0;
    std::array::from_fn(|p| {
        let s = kv[2 * p].shape();
        let len = match layouts[p] {
            KvLayout::BatchMajor => s[1],
            KvLayout::TimeMajor => s[0],
        };
        start += len;
        PartDims {
            start: start - len,
            len,
            layout: layouts[p],
        }
    })
}

fn forward(
    q: &FlexTensor,
    kv: [&FlexTensor; 2 * PARTS],
    spec: &AttentionSpec,
) -> (AttentionTape, FlexTensor) {
    let w = &spec.windows;
    let qs = q.shape();
    let d = Dims {
        t: qs[0],
        b: qs[1],
        f: qs[2],
        h: w.heads(),
    };
    let parts = part_dims(&kv, &spec.layouts);
    let q = contiguous(q);
    let k: [FlexTensor; PARTS] = std::array::from_fn(|p| contiguous(kv[2 * p]));
    let v: [FlexTensor; PARTS] = std::array::from_fn(|p| contiguous(kv[2 * p + 1]));
    let blocks = plan(w);
    let inputs = Inputs {
        q: f32s(&q),
        k: k.each_ref().map(f32s),
        v: v.each_ref().map(f32s),
    };
    let (out, p) = forward_any((d, &parts), w, &blocks, &inputs);
    let out = FlexTensor::from_data(TensorData::new(out, [d.t, d.b, d.f]));
    let tape = AttentionTape {
        d,
        parts,
        q,
        k,
        v,
        blocks,
        p,
    };
    (tape, out)
}

impl FusedAttentionBackend for Flex {
    fn fused_attention(
        q: FlexTensor,
        k0: FlexTensor,
        v0: FlexTensor,
        k1: FlexTensor,
        v1: FlexTensor,
        k2: FlexTensor,
        v2: FlexTensor,
        spec: Arc<AttentionSpec>,
    ) -> FlexTensor {
        forward(&q, [&k0, &v0, &k1, &v1, &k2, &v2], &spec).1
    }
}

#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 7> for AttentionBackward {
    type State = Arc<AttentionTape>;

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [q_node, kv_nodes @ ..] = ops.parents;
        let dout = contiguous(&grads.consume::<Flex>(&ops.node));
        let tape = ops.state;
        let need_k = std::array::from_fn(|p| kv_nodes[2 * p].is_some());
        let need_v = std::array::from_fn(|p| kv_nodes[2 * p + 1].is_some());
        let (dq, dk, dv) = backward_any(&tape, f32s(&dout), (need_k, need_v));
        let d = tape.d;
        if let Some(node) = q_node {
            let g = FlexTensor::from_data(TensorData::new(dq, [d.t, d.b, d.f]));
            grads.register::<Flex>(node.id, g);
        }
        let [mut k_nodes, mut v_nodes] = [0, 1].map(|o| kv_nodes.iter().skip(o).step_by(2));
        for (p, (dk, dv)) in dk.into_iter().zip(dv).enumerate() {
            let part = tape.parts[p];
            let shape = match part.layout {
                KvLayout::BatchMajor => [d.b, part.len, d.f],
                KvLayout::TimeMajor => [part.len, d.b, d.f],
            };
            let nodes = [k_nodes.next(), v_nodes.next()].map(|n| n.and_then(|n| n.clone()));
            for (node, g) in nodes.into_iter().zip([dk, dv]) {
                if let (Some(node), Some(g)) = (node, g) {
                    let g = FlexTensor::from_data(TensorData::new(g, shape));
                    grads.register::<Flex>(node.id, g);
                }
            }
        }
    }
}

impl<C: CheckpointStrategy> FusedAttentionBackend for Autodiff<Flex, C> {
    fn fused_attention(
        q: FloatTensor<Self>,
        k0: FloatTensor<Self>,
        v0: FloatTensor<Self>,
        k1: FloatTensor<Self>,
        v1: FloatTensor<Self>,
        k2: FloatTensor<Self>,
        v2: FloatTensor<Self>,
        spec: Arc<AttentionSpec>,
    ) -> FloatTensor<Self> {
        let all = [&q, &k0, &v0, &k1, &v1, &k2, &v2];
        let nodes = all.map(|x| x.node());
        let [q, kv @ ..] = all.map(|x| x.primitive());
        match AttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (tape, out) = forward(q, kv, &spec);
                prep.finish(Arc::new(tape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(q, kv, &spec).1),
        }
    }
}

/// `softmax(Q Kᵀ/√(F/H) + bias) V` per head over each query's `windows`, for time-major
/// `q: [T, B, F]` and keys/values in up to three `parts` (their columns side by side, in order;
/// no gradient flows to the mask or the ALiBi bias): one fused op on Flex, burn ops elsewhere.
/// Returns `[T, B, F]`.
pub fn attention(q: Tensor<3>, parts: Vec<KvPart>, windows: Windows) -> Tensor<3> {
    let [t, b, f] = q.dims();
    let h = windows.heads();
    assert!(
        (1..=PARTS).contains(&parts.len()),
        "attention: 1 to {PARTS} key parts"
    );
    for p in &parts {
        let n = p.len();
        let want = match p.layout {
            KvLayout::BatchMajor => [b, n, f],
            KvLayout::TimeMajor => [n, b, f],
        };
        assert_eq!(p.k.dims(), want, "attention: keys must be {want:?}");
        assert_eq!(p.v.dims(), want, "attention: values must match the keys");
    }
    let l: usize = parts.iter().map(KvPart::len).sum();
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
    let fusable = parts.iter().all(|p| super::all_fusable(&[&p.k, &p.v]));
    if b * t * l == 0 || !fusable || !super::all_fusable(&[&q]) {
        let device = q.device();
        let bias =
            Tensor::<4>::from_data(TensorData::new(windows.dense_bias(), [b, h, t, l]), &device);
        let (ks, vs): (Vec<_>, Vec<_>) = parts.into_iter().map(KvPart::batch_major).unzip();
        let (k, v) = (Tensor::cat(ks, 1), Tensor::cat(vs, 1));
        return attention_reference(q.swap_dims(0, 1), k, v, bias).swap_dims(0, 1);
    }
    let mut layouts = [KvLayout::BatchMajor; PARTS];
    let mut kv = Vec::with_capacity(2 * PARTS);
    for (p, part) in parts.into_iter().enumerate() {
        layouts[p] = part.layout;
        kv.push(part.k.into_dispatch());
        kv.push(part.v.into_dispatch());
    }
    while kv.len() < 2 * PARTS {
        // an absent part: no key columns
        let dev = q.device();
        kv.push(Tensor::<3>::zeros([b, 0, f], &dev).into_dispatch());
    }
    let mut kv = kv.into_iter();
    let mut next = || kv.next().expect("a key or value per part");
    let spec = Arc::new(AttentionSpec { windows, layouts });
    Tensor::from_dispatch(<Dispatch as FusedAttentionBackend>::fused_attention(
        q.into_dispatch(),
        next(),
        next(),
        next(),
        next(),
        next(),
        next(),
        spec,
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
    use super::super::softmax::Segments;
    use super::*;
    use burn::tensor::Distribution;

    use KvLayout::{BatchMajor, TimeMajor};

    #[test]
    fn fused_attention_matches_burn_ops_in_value_and_gradient() {
        // one causal range of 5 keys per query, no positional bias, one part
        let one = [(9, BatchMajor, true)];
        check_against_reference((2, 7, 9, 8, 2), &[0.0, 0.0], &one, |_, i| {
            [(0, 0), (i.saturating_sub(4), i + 1)]
        });
        // GTrXL-like: memory rows and a window over cache + new steps far apart (two runs per
        // block), several query blocks (the last one partial), some rows without memory, ALiBi;
        // the keys as memory rows, a cache without gradient and time-major new steps, so that
        // runs cross parts
        let gtrxl = [
            (90, BatchMajor, true),
            (40, BatchMajor, false),
            (70, TimeMajor, true),
        ];
        check_against_reference((2, 70, 200, 8, 2), &[0.5, 0.125], &gtrxl, |bi, i| {
            let memory = if bi == 1 && i % 3 == 0 {
                (0, 0)
            } else {
                (i, i + 20)
            };
            [memory, (100 + i, 131 + i)]
        });
        // ranges close enough to share one run: the columns between them are masked inside it
        let two = [(50, TimeMajor, true), (40, BatchMajor, true)];
        check_against_reference((1, 40, 90, 8, 2), &[0.25, 0.0], &two, |_, i| {
            [(i, i + 20), (i + 25, i + 40 + i % 7)]
        });
    }

    #[test]
    fn register_tiles_match_burn_ops_for_each_head_width() {
        // heads 8, 16, 24 and 32 wide take the register tiles on AVX2 CPUs (the test above, 4
        // wide, the gemm passes); 70 queries leave a partial block and a partial group of rows,
        // and the parts' lengths leave partial column tiles
        let gtrxl = [
            (91, BatchMajor, true),
            (39, BatchMajor, false),
            (70, TimeMajor, true),
        ];
        for (f, h) in [(16, 2), (32, 2), (48, 2), (64, 2)] {
            check_against_reference((2, 70, 200, f, h), &[0.5, 0.125], &gtrxl, |bi, i| {
                let memory = if bi == 1 && i % 3 == 0 {
                    (0, 0)
                } else {
                    (i, i + 20)
                };
                let start = if bi == 0 && i >= 40 { 140 } else { 100 + i };
                [memory, (start, 131 + i)]
            });
        }
    }

    /// Fused attention against burn ops with the dense bias for `(b, t, l, f, h)`, per-head
    /// ALiBi `slopes` and `ranges(batch row, query)`, with the keys and values split into
    /// `parts` (columns, layout, whether they take a gradient) that cover the `l` columns.
    fn check_against_reference(
        (b, t, l, f, h): (usize, usize, usize, usize, usize),
        slopes: &[f32],
        parts: &[(usize, KvLayout, bool)],
        ranges: impl Fn(usize, usize) -> Segments,
    ) {
        assert_eq!(slopes.len(), h);
        assert_eq!(parts.iter().map(|p| p.0).sum::<usize>(), l);
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
        let (qa, qb, kb, vb) = (leaf(&q), leaf(&q), leaf(&k), leaf(&v));
        // each part's keys and values, cut from k and v, as leaves of their own
        let mut at = 0;
        let mut fused_parts = Vec::new();
        for &(n, layout, grad) in parts {
            let cut = |x: &Tensor<3>| {
                let x = x.clone().narrow(1, at, n);
                let x = match layout {
                    BatchMajor => x,
                    TimeMajor => x.swap_dims(0, 1),
                };
                let x = Tensor::<3>::from_data(x.into_data(), &plain).autodiff();
                if grad { x.require_grad() } else { x }
            };
            fused_parts.push(KvPart {
                k: cut(&k),
                v: cut(&v),
                layout,
            });
            at += n;
        }
        let ya = attention(qa.clone(), fused_parts.clone(), windows);
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
        let close = |da: Tensor<3>, db: Tensor<3>, name: &str| {
            let d = (da - db).abs().max().into_scalar::<f32>();
            assert!(d < 1e-4, "d{name} differs by {d}");
        };
        close(qa.grad(&ga).expect("dq"), qb.grad(&gb).expect("dq"), "q");
        let mut at = 0;
        for (part, &(n, layout, grad)) in fused_parts.iter().zip(parts) {
            for (xa, xb, name) in [(&part.k, &kb, "k"), (&part.v, &vb, "v")] {
                let da = xa.grad(&ga);
                assert_eq!(
                    da.is_some(),
                    grad,
                    "d{name} exactly where a part is tracked"
                );
                let Some(da) = da else { continue };
                let da = match layout {
                    BatchMajor => da,
                    TimeMajor => da.swap_dims(0, 1),
                };
                close(da, xb.grad(&gb).expect("grad").narrow(1, at, n), name);
            }
            at += n;
        }
    }
}
