//! Multi-head self-attention as a true sliding window, and Transformer-XL segment memory.
//!
//! `attention(heads, ctx = C, pos)`: the query at step `p` attends to the keys of steps
//! `p − C ..= p` that belong to its own episode. The carry holds the projected keys and values of
//! the last `C` steps and their start flags (empty slots count as starts, so each is its own
//! segment). Because the window is defined on absolute steps, any chunking of a sequence gives the
//! same outputs as one call or as stepping one step at a time.
//!
//! `segment_recurrence(attention(...), memory = M)`: additionally, the query at step `p` attends
//! to the block's own (detached) outputs of steps `p − C − M .. p − C`, i.e. the `M` steps before
//! its window (memorax stores the wrapped module's output). The carry keeps the last `C + M`
//! outputs; sequences longer than `C` are processed in sub-chunks of at most `C` steps.

use super::basic::linear;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::carry::Carry;
use super::fused::attention::{KvLayout, KvPart, Windows, attention};
use super::fused::window::Window;
use super::fused::{f32s, plain_flex, plain_flex_view, plain_from_flex, plain_tensor};
use burn::backend::flex::FlexTensor;

/// Multi-head attention over a sliding window of `ctx` past steps.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// Number of heads.
    pub heads: usize,
    /// Window length `C`.
    pub ctx: usize,
    /// Width `F`.
    pub width: usize,
    /// Positional scheme: `none`, `alibi` or `rope`.
    pub pos: String,
}

/// Detached outputs of earlier steps fed to the attention as extra keys (segment memory).
pub struct Memory {
    /// `[B, C + M, F]` outputs of the `C + M` steps before the chunk.
    pub rows: Tensor<3>,
    /// `[B, C + M]` start flags of those steps (1.0 for empty rows), host copy.
    pub starts: Vec<f32>,
    /// `M`.
    pub len: usize,
}

impl Attention {
    /// Attention over `width` features.
    pub fn new(width: usize, heads: usize, ctx: usize, pos: &str, device: &Device) -> Self {
        let lin = || LinearConfig::new(width, width).init(device);
        Attention {
            q: lin(),
            k: lin(),
            v: lin(),
            o: lin(),
            heads,
            ctx,
            width,
            pos: pos.to_string(),
        }
    }

    /// Empty cache: zero keys/values, every slot flagged as a start.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let c = self.ctx;
        Carry::Leaf(vec![
            Tensor::zeros([batch, c * self.width], device),
            Tensor::zeros([batch, c * self.width], device),
            Tensor::ones([batch, c], device),
        ])
    }

    /// Run over `x: [T, B, F]` with start flags `[T, B]`; `memory` adds segment-memory keys.
    /// Without `keep_carry` (the caller drops the carry) the input carry is returned as it came.
    pub fn forward(
        &self,
        x: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        memory: Option<&Memory>,
        keep_carry: bool,
    ) -> (Tensor<3>, Carry) {
        if memory.is_none() && self.steps_on_host(&x) {
            let (y, carry, _) = self.host_step(x, start, carry, None);
            return (y, carry);
        }
        let [t_len, b, f] = x.dims();
        let (c, h) = (self.ctx, self.heads);
        let leaves = carry.leaves();
        let k_cache = leaves[0].clone().reshape([b, c, f]);
        let v_cache = leaves[1].clone().reshape([b, c, f]);
        let cache_start = host(leaves[2].clone());
        let new_start = host(start.clone().transpose()); // [B, T]

        // projections in the sequence's time-major layout
        let q = linear(&self.q, x.clone()); // [T, B, F]
        let (k_new, v_new) = (linear(&self.k, x.clone()), linear(&self.v, x));

        let m = memory.map(|mem| mem.len).unwrap_or(0);
        let mem_rows = memory.map(|mem| mem.rows.dims()[1]).unwrap_or(0); // C + M
        // step i of the chunk sees memory rows [i, i + M): only the first T − 1 + M are keys
        let mem_vis = if memory.is_some() {
            (t_len + m).saturating_sub(1).min(mem_rows)
        } else {
            0
        };
        // memory rows projected as keys: all of them when only a few are invisible (projecting
        // those costs less than copying the visible ones out of the carry), else the visible ones
        let mem_cols = if mem_rows - mem_vis <= mem_rows / 8 {
            mem_rows
        } else {
            mem_vis
        };
        // timeline of starts: [memory rows (C+M) | new (T)] when memory is present, else
        // [cache (C) | new (T)]; cache slot s sits at timeline index (mem_rows - C) + s.
        let mut timeline = Vec::with_capacity(b * (mem_rows.max(c) + t_len));
        let tl_len = mem_rows.max(c) + t_len;
        for bi in 0..b {
            match memory {
                Some(mem) => {
                    timeline.extend_from_slice(&mem.starts[bi * mem_rows..(bi + 1) * mem_rows])
                }
                None => timeline.extend_from_slice(&cache_start[bi * c..(bi + 1) * c]),
            }
            timeline.extend_from_slice(&new_start[bi * t_len..(bi + 1) * t_len]);
        }
        let offset = tl_len - t_len - c; // timeline index of cache slot 0 (= M with memory, else 0)
        // key timeline positions: memory rows, cache+new
        let mut kpos: Vec<usize> = (0..mem_cols).collect();
        kpos.extend((0..c + t_len).map(|j| offset + j));
        let qpos: Vec<usize> = (0..t_len).map(|i| offset + c + i).collect();
        // each query sees keys in its window and its episode (keys at or after the episode's
        // start): two contiguous ranges, memory rows and cache + new; ALiBi penalises distance
        let slopes: Vec<f32> = (0..h)
            .map(|hi| {
                if self.pos == "alibi" {
                    super::fused::attention_step::alibi_slope(hi, h)
                } else {
                    0.0
                }
            })
            .collect();
        let mut ranges = Vec::with_capacity(b * t_len);
        let mut episode_start = vec![0usize; tl_len];
        for bi in 0..b {
            let mut s0 = 0;
            for (j, es) in episode_start.iter_mut().enumerate() {
                if timeline[bi * tl_len + j] > 0.5 {
                    s0 = j;
                }
                *es = s0;
            }
            for (i, &qp) in qpos.iter().enumerate() {
                let s0 = episode_start[qp];
                // memory row kj (timeline position kj) is visible to step i for kj in [i, i + M)
                let (m0, m1) = (i.max(s0), (i + m).min(mem_vis));
                // cache/new slot j (timeline position offset + j) for j in [i, C + i]
                let (c0, c1) = (i.max(s0.saturating_sub(offset)), c + i + 1);
                let mem = if m0 < m1 { (m0, m1) } else { (0, 0) };
                ranges.push([mem, (mem_cols + c0, mem_cols + c1)]);
            }
        }
        let windows = Windows {
            b,
            t: t_len,
            l: kpos.len(),
            ranges,
            slopes,
            qpos: qpos.iter().map(|&p| p as f32).collect(),
            kpos: kpos.iter().map(|&p| p as f32).collect(),
        };
        let device = q.device();

        // keys: [memory rows | cache | new steps], as parts that are never concatenated
        let mut parts = Vec::with_capacity(3);
        if let Some(mem) = memory {
            let rows = if mem_cols == mem_rows {
                mem.rows.clone()
            } else {
                mem.rows.clone().narrow(1, 0, mem_cols)
            };
            parts.push(KvPart {
                k: linear(&self.k, rows.clone()),
                v: linear(&self.v, rows),
                layout: KvLayout::BatchMajor,
            });
        }
        let cache = KvPart {
            k: k_cache.clone(),
            v: v_cache.clone(),
            layout: KvLayout::BatchMajor,
        };
        let new = KvPart {
            k: k_new.clone(),
            v: v_new.clone(),
            layout: KvLayout::TimeMajor,
        };
        parts.extend([cache, new]);
        let mut q = q;
        if self.pos == "rope" {
            // RoPE rotates each key by its position: one batch-major tensor of all keys
            q = rope(q.swap_dims(0, 1), h, &qpos, &device).swap_dims(0, 1);
            let (ks, vs): (Vec<_>, Vec<_>) = parts.into_iter().map(KvPart::batch_major).unzip();
            let k = rope(Tensor::cat(ks, 1), h, &kpos, &device);
            parts = vec![KvPart {
                k,
                v: Tensor::cat(vs, 1),
                layout: KvLayout::BatchMajor,
            }];
        }
        let att = attention(q, parts, windows); // [T, B, F]
        let y = linear(&self.o, att);
        if !keep_carry {
            return (y, carry);
        }

        // new cache: the last C steps of [cache; new]
        let keep = |cache: Tensor<3>, new: Tensor<3>| shift_in(cache, new).reshape([b, c * f]);
        let starts_all = shift_in_flags(&cache_start, &new_start, b);
        let carry = Carry::Leaf(vec![
            keep(k_cache, k_new),
            keep(v_cache, v_new),
            Tensor::from_data(TensorData::new(starts_all, [b, c]), &device),
        ]);
        (y, carry)
    }
}

/// Segment memory for [`Attention::host_step`].
struct HostMemory {
    /// `[B, C + M, F]` rows.
    rows: Window,
    /// `[B, C + M]` start flags.
    starts: Window,
    /// `M`.
    len: usize,
}

impl Attention {
    /// Whether `x` is one inference step that [`Attention::host_step`] computes: plain (not
    /// autodiff) Flex f32 tensors and a position scheme other than RoPE (whose rotation of each
    /// key rules out the memory-row shortcut).
    fn steps_on_host(&self, x: &Tensor<3>) -> bool {
        x.dims()[0] == 1
            && self.pos != "rope"
            && x.dtype() == burn::tensor::DType::F32
            && x.device() == Device::flex()
    }

    /// One step on the host (see `fused::attention_step`): the output `[1, B, F]`, the new
    /// attention carry and, with segment memory, the new memory carry (this step's output and
    /// start shifted in). Caches are read in place and advanced as windows (see
    /// `fused::window`): in place when this step holds the only reference to them.
    fn host_step(
        &self,
        x: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        memory: Option<HostMemory>,
    ) -> (Tensor<3>, Carry, Option<Carry>) {
        use super::fused::attention_step::{Proj, StepDims, StepInputs, attention_step};
        let [_, b, f] = x.dims();
        let c = self.ctx;
        let [k_cache, v_cache, cache_start] = windows(carry, "attention carry");
        let (x, new_start) = (flex(x), flex(start.clone()));
        let weights = |l: &Linear| {
            let bias = match &l.bias {
                Some(b) => flex(b.val()),
                None => flex(Tensor::<1>::zeros([f], &Device::flex())),
            };
            (flex(l.weight.val()), bias)
        };
        let (q, k, v, o) = (
            weights(&self.q),
            weights(&self.k),
            weights(&self.v),
            weights(&self.o),
        );
        let new_start = f32s(&new_start);
        // timeline starts: remembered steps (memory rows, else the cache), then this step
        let remembered = memory.as_ref().map_or(&cache_start, |m| &m.starts);
        let mut starts = Vec::with_capacity(b * (c + memory.as_ref().map_or(0, |m| m.len) + 1));
        for (bi, &now) in new_start.iter().enumerate().take(b) {
            starts.extend_from_slice(remembered.row(bi));
            starts.push(now);
        }
        fn proj(p: &(FlexTensor, FlexTensor)) -> Proj<'_> {
            Proj {
                w: f32s(&p.0),
                bias: f32s(&p.1),
            }
        }
        let d = StepDims {
            b,
            f,
            h: self.heads,
            c,
            m: memory.as_ref().map_or(0, |m| m.len),
        };
        let ((kc, k_stride), (vc, v_stride)) = (k_cache.rows(), v_cache.rows());
        let (rows, rows_stride) = memory.as_ref().map_or((&[][..], 0), |m| m.rows.rows());
        let out = attention_step(
            d,
            &StepInputs {
                x: f32s(&x),
                k_cache: kc,
                v_cache: vc,
                k_stride,
                v_stride,
                starts: &starts,
                rows,
                rows_stride,
                q: proj(&q),
                k: proj(&k),
                v: proj(&v),
                o: proj(&o),
                alibi: self.pos == "alibi",
            },
        );
        let carry = Carry::Leaf(vec![
            plain_from_flex(k_cache.advance(&out.k, f)),
            plain_from_flex(v_cache.advance(&out.v, f)),
            plain_from_flex(cache_start.advance(new_start, 1)),
        ]);
        let memory = memory.map(|mem| {
            Carry::Leaf(vec![
                plain_from_flex(mem.rows.advance(&out.y, f)),
                plain_from_flex(mem.starts.advance(new_start, 1)),
            ])
        });
        (plain_tensor(out.y, [1, b, f]), carry, memory)
    }
}

/// The `N` leaves of a step's carry as windows (see `fused::window`), moved out of it.
fn windows<const N: usize>(carry: Carry, what: &str) -> [Window; N] {
    let leaves = carry.into_leaves();
    assert_eq!(leaves.len(), N, "{what}: expected {N} tensors");
    let mut it = leaves
        .into_iter()
        .map(|t| Window::new(plain_flex_view(t).expect("plain Flex f32 carry")));
    std::array::from_fn(|_| it.next().expect("counted above"))
}

/// The Flex tensor behind a tensor that [`Attention::steps_on_host`] accepted.
fn flex<const D: usize>(t: Tensor<D>) -> FlexTensor {
    plain_flex(t).expect("plain Flex f32 tensor")
}

/// The last `R` rows of `[rows; new]` per batch row, for `rows: [B, R, F]` and time-major
/// `new: [n, B, F]`: a cache or segment memory after `n` more steps. Plain Flex tensors are
/// written once on the host (the burn ops transposed, concatenated and then copied the narrowed
/// view again: about a quarter of the critic's rollout time under PPO-GTrXL).
fn shift_in(rows: Tensor<3>, new: Tensor<3>) -> Tensor<3> {
    let [b, r, f] = rows.dims();
    let n = new.dims()[0];
    let kept = r.saturating_sub(n);
    if let (Some(rows_ft), Some(new_ft)) = (plain_flex(rows.clone()), plain_flex(new.clone())) {
        let (old, new) = (f32s(&rows_ft), f32s(&new_ft));
        let mut out = Vec::with_capacity(b * r * f);
        for bi in 0..b {
            out.extend_from_slice(&old[(bi * r + r - kept) * f..(bi + 1) * r * f]);
            for t in n - (r - kept)..n {
                out.extend_from_slice(&new[(t * b + bi) * f..][..f]);
            }
        }
        return plain_tensor(out, [b, r, f]);
    }
    let new = new.swap_dims(0, 1); // [B, n, F]
    if kept == 0 {
        new.narrow(1, n - r, r)
    } else {
        Tensor::cat(vec![rows.narrow(1, r - kept, kept), new], 1)
    }
}

/// [`shift_in`] for host start flags: the last `R` of `[old; new]` per batch row, for
/// batch-major `old: [B, R]` and `new: [B, n]`.
fn shift_in_flags(old: &[f32], new: &[f32], b: usize) -> Vec<f32> {
    let (r, n) = (old.len() / b.max(1), new.len() / b.max(1));
    let kept = r.saturating_sub(n);
    let mut out = Vec::with_capacity(b * r);
    for bi in 0..b {
        out.extend_from_slice(&old[(bi + 1) * r - kept..(bi + 1) * r]);
        out.extend_from_slice(&new[(bi + 1) * n - (r - kept)..(bi + 1) * n]);
    }
    out
}

/// Host copy of a `[R, K]` tensor, row-major.
fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 data")
}

/// Rotary embedding (half-split rotation per head) of `[B, n, F]` with `heads` heads at the
/// given positions.
fn rope(x: Tensor<3>, heads: usize, pos: &[usize], device: &Device) -> Tensor<3> {
    let [b, n, f] = x.dims();
    let dh = f / heads;
    let half = dh / 2;
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for &p in pos {
        for i in 0..half {
            let theta = p as f32 * 10000f32.powf(-(2.0 * i as f32) / dh as f32);
            cos.push(theta.cos());
            sin.push(theta.sin());
        }
    }
    let cos = Tensor::<4>::from_data(TensorData::new(cos, [1, n, 1, half]), device);
    let sin = Tensor::<4>::from_data(TensorData::new(sin, [1, n, 1, half]), device);
    let x = x.reshape([b, n, heads, dh]);
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.narrow(3, half, half);
    let r1 = x1.clone() * cos.clone() - x2.clone() * sin.clone();
    let r2 = x1 * sin + x2 * cos;
    Tensor::cat(vec![r1, r2], 3).reshape([b, n, f])
}

/// Transformer-XL-style segment memory around an attention block (memory = detached outputs).
#[derive(Module, Debug)]
pub struct SegmentRecurrence {
    /// The wrapped attention.
    pub inner: Attention,
    /// Memory length `M`.
    pub memory: usize,
}

impl SegmentRecurrence {
    /// Carry: `(memory rows [B, (C+M)·F] zero, memory starts [B, C+M] one)`, then the attention cache.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let rows = self.inner.ctx + self.memory;
        Carry::Tuple(vec![
            Carry::Leaf(vec![
                Tensor::zeros([batch, rows * self.inner.width], device),
                Tensor::ones([batch, rows], device),
            ]),
            self.inner.init_carry(batch, device),
        ])
    }

    /// Run over `[T, B, F]`, in sub-chunks of at most `C` steps. Without `keep_carry` (the caller
    /// drops the carry) the last sub-chunk's new carry is not built and the input carry is returned.
    pub fn forward(
        &self,
        x: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        keep_carry: bool,
    ) -> (Tensor<3>, Carry) {
        let [t_len, b, f] = x.dims();
        let (c, m) = (self.inner.ctx, self.memory);
        let rows_n = c + m;
        if self.inner.steps_on_host(&x) {
            // children moved out, so that the step can advance their buffers in place
            let mut carry = carry;
            let (mem_leaf, inner) = (carry.take_child(0), carry.take_child(1));
            let [rows, starts] = windows(mem_leaf, "segment-memory carry");
            let mem = HostMemory {
                rows,
                starts,
                len: m,
            };
            let (y, inner, mem) = self.inner.host_step(x, start, inner, Some(mem));
            let mem = mem.expect("memory carry of a step with memory");
            return (y, Carry::Tuple(vec![mem, inner]));
        }
        let mem_leaf = carry.child(0);
        let mut rows = mem_leaf.leaves()[0].clone().reshape([b, rows_n, f]);
        let mut starts = host(mem_leaf.leaves()[1].clone());
        let mut inner = carry.child(1);
        let mut outs = Vec::new();
        let mut t0 = 0;
        while t0 < t_len {
            let n = (t_len - t0).min(c);
            let xs = x.clone().narrow(0, t0, n);
            let ss = start.clone().narrow(0, t0, n);
            let mem = Memory {
                rows: rows.clone(),
                starts: starts.clone(),
                len: m,
            };
            let last = t0 + n == t_len;
            let (y, c2) = self
                .inner
                .forward(xs, &ss, inner, Some(&mem), keep_carry || !last);
            inner = c2;
            if last && !keep_carry {
                outs.push(y);
                break;
            }
            // append detached outputs and their starts, keep the last C + M
            rows = shift_in(rows, y.clone().detach());
            starts = shift_in_flags(&starts, &host(ss.transpose()), b);
            outs.push(y);
            t0 += n;
        }
        let device = x.device();
        let y = if outs.len() == 1 {
            outs.pop().expect("one chunk")
        } else {
            Tensor::cat(outs, 0)
        };
        if !keep_carry {
            return (y, carry);
        }
        let mem = Carry::Leaf(vec![
            rows.reshape([b, rows_n * f]),
            Tensor::from_data(TensorData::new(starts, [b, rows_n]), &device),
        ]);
        (y, Carry::Tuple(vec![mem, inner]))
    }
}
