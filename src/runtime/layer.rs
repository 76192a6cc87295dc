//! The lowered block tree: one enum variant per block family, children through `Vec`.

use super::basic::{linear, linear_act};
use burn::module::Module;
use burn::nn::{Dropout, Linear};
use burn::prelude::*;

use super::basic::{Act, Ffn, Mlp, Norm};
use super::carry::Carry;
use super::recurrent::{Gru, Lstm, MinGru};

/// Shared parameter sets referenced by [`Layer::Shared`], and whether dropout is active.
pub struct Ctx<'a> {
    /// `shared(...)` blocks, indexed by their shared id.
    pub shared: &'a [Layer],
    /// Previous action per step `[T, B, A]` (zero at episode starts), for `embed_action`.
    pub prev_action: Option<Tensor<3>>,
    /// Previous reward per step `[T, B, 1]` (zero at episode starts), for `embed_reward`.
    pub prev_reward: Option<Tensor<3>>,
    /// Auxiliary losses blocks add to the training loss (e.g. the `moe` router balance loss).
    pub aux: std::cell::RefCell<Vec<Tensor<1>>>,
    /// Whether the caller uses the carry after the call. When it does not (a training loss),
    /// blocks whose new carry costs copies (attention caches, segment memory) may skip building
    /// it and return their input carry (see [`super::net::AgentModel::forward_outputs`]).
    pub final_carry: bool,
}

impl<'a> Ctx<'a> {
    /// A context with shared blocks and no previous-step inputs.
    pub fn new(shared: &'a [Layer]) -> Self {
        Ctx {
            shared,
            prev_action: None,
            prev_reward: None,
            aux: std::cell::RefCell::new(Vec::new()),
            final_carry: true,
        }
    }
}

/// `embed_action` / `embed_reward`: concatenates a previous-step input from the [`Ctx`].
#[derive(Module, Debug)]
pub struct EmbedPrev {
    /// Appended width (actions, or 1 for the reward).
    pub width: usize,
}

impl EmbedPrev {
    /// `[x | extra]`; zeros where the context carries no previous-step input.
    fn forward(&self, x: Tensor<3>, extra: Option<&Tensor<3>>) -> Tensor<3> {
        let [t, b, _] = x.dims();
        let extra = match extra {
            Some(e) => e.clone(),
            None => Tensor::zeros([t, b, self.width], &x.device()),
        };
        Tensor::cat(vec![x, extra], 2)
    }
}

/// A reference to a `shared(...)` block.
#[derive(Module, Debug)]
pub struct SharedRef {
    /// Index into [`Ctx::shared`].
    pub id: usize,
}

/// Children applied in order (`->`, `stack`, `x * n`).
#[derive(Module, Debug)]
pub struct Seq {
    /// Members in order.
    pub layers: Vec<Layer>,
}

/// A wrapper around one child block.
#[derive(Module, Debug)]
pub struct Wrap {
    /// The wrapped block (exactly one element).
    pub inner: Vec<Layer>,
}

/// `x + σ(W x + b) ⊙ f(x)` (GTrXL-style gate computed from the block input).
#[derive(Module, Debug)]
pub struct GatedResidual {
    /// Gate projection over the block input.
    pub gate: Linear,
    /// The wrapped block.
    pub inner: Vec<Layer>,
}

/// `f(norm(x))` or `norm(f(x))`.
#[derive(Module, Debug)]
pub struct NormWrap {
    /// The normalisation.
    pub norm: Norm,
    /// The wrapped block.
    pub inner: Vec<Layer>,
}

/// Identity block (no parameters).
#[derive(Module, Debug)]
pub struct Identity {
    /// Width (informational).
    pub width: usize,
}

/// A lowered block.
#[derive(Module, Debug)]
pub enum Layer {
    /// Passes input through.
    Identity(Identity),
    /// Linear map.
    Linear(Linear),
    /// Stack of linear layers with activations.
    Mlp(Mlp),
    /// Elementwise activation.
    Act(Act),
    /// Layer or RMS normalisation.
    Norm(Norm),
    /// Dropout (active only on autodiff devices in training mode).
    Dropout(Dropout),
    /// Feed-forward block.
    Ffn(Ffn),
    /// Members applied in order.
    Seq(Seq),
    /// `x + f(x)`.
    Residual(Wrap),
    /// `x + gate(x) ⊙ f(x)`.
    GatedResidual(GatedResidual),
    /// `f(norm(x))`.
    PreNorm(NormWrap),
    /// `norm(f(x))`.
    PostNorm(NormWrap),
    /// GRU.
    Gru(Gru),
    /// LSTM.
    Lstm(Lstm),
    /// MinGRU.
    MinGru(MinGru),
    /// Memory block defined in [`super::attention`].
    Attention(super::attention::Attention),
    /// Transformer-XL segment memory around attention.
    SegmentRecurrence(super::attention::SegmentRecurrence),
    /// Use of a `shared(...)` parameter set.
    Shared(SharedRef),
    /// Linear attention (`linear_attention`).
    LinearAttention(super::linear_attention::LinearAttention),
    /// Linear recurrent unit (`lru`).
    Lru(super::lru::Lru),
    /// S5 state-space layer (`s5`).
    S5(super::s5::S5),
    /// Fast and forgetful memory (`ffm`).
    Ffm(super::ffm::Ffm),
    /// Mamba-2 style selective scan (`mamba`).
    Mamba(super::mamba::Mamba),
    /// sLSTM (`slstm`).
    Slstm(super::xlstm::Slstm),
    /// mLSTM (`mlstm`).
    Mlstm(super::xlstm::Mlstm),
    /// Stable Hadamard memory (`shm`).
    Shm(super::shm::Shm),
    /// Real-time recurrent unit (`rtu`).
    Rtu(super::rtu::Rtu),
    /// Mixture of experts (`moe`).
    Moe(super::moe::Moe),
    /// RL² trials around a memory block (`rl2`).
    Rl2(super::rl2::Rl2),
    /// Real-time recurrent learning around `lru` or `rtu` (`rtrl`).
    Rtrl(super::rtrl::Rtrl),
    /// Previous action appended to the features (`embed_action`).
    EmbedAction(EmbedPrev),
    /// Previous reward appended to the features (`embed_reward`).
    EmbedReward(EmbedPrev),
    /// Convolutional image encoder (`cnn`).
    Cnn(super::image::Cnn),
    /// Vision-transformer image encoder (`vit`).
    Vit(super::image::Vit),
}

impl Layer {
    /// Initial carry for `batch` environments (deterministic).
    pub fn init_carry(&self, batch: usize, device: &Device, ctx: &Ctx) -> Carry {
        match self {
            Layer::Seq(s) => Carry::Tuple(
                s.layers
                    .iter()
                    .map(|l| l.init_carry(batch, device, ctx))
                    .collect(),
            ),
            Layer::Residual(w) => w.inner[0].init_carry(batch, device, ctx),
            Layer::GatedResidual(g) => g.inner[0].init_carry(batch, device, ctx),
            Layer::PreNorm(w) | Layer::PostNorm(w) => w.inner[0].init_carry(batch, device, ctx),
            Layer::Gru(g) => g.init_carry(batch, device),
            Layer::Lstm(l) => l.init_carry(batch, device),
            Layer::MinGru(m) => m.init_carry(batch, device),
            Layer::Attention(a) => a.init_carry(batch, device),
            Layer::SegmentRecurrence(s) => s.init_carry(batch, device),
            Layer::Shared(r) => ctx.shared[r.id].init_carry(batch, device, ctx),
            Layer::LinearAttention(m) => m.init_carry(batch, device),
            Layer::Lru(m) => m.init_carry(batch, device),
            Layer::S5(m) => m.init_carry(batch, device),
            Layer::Ffm(m) => m.init_carry(batch, device),
            Layer::Mamba(m) => m.init_carry(batch, device),
            Layer::Slstm(m) => m.init_carry(batch, device),
            Layer::Mlstm(m) => m.init_carry(batch, device),
            Layer::Shm(m) => m.init_carry(batch, device),
            Layer::Rtu(m) => m.init_carry(batch, device),
            Layer::Rl2(m) => m.init_carry(batch, device, ctx),
            Layer::Rtrl(m) => m.init_carry(batch, device),
            Layer::Moe(m) => m.init_carry(batch, device, ctx),
            _ => Carry::Unit,
        }
    }

    /// Run over a sequence `x: [T, B, F]` with start flags `[T, B]` from `carry`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        start: &Tensor<2>,
        carry: Carry,
        ctx: &Ctx,
    ) -> (Tensor<3>, Carry) {
        match self {
            Layer::Identity(_) => (x, carry),
            Layer::EmbedAction(e) => (e.forward(x, ctx.prev_action.as_ref()), carry),
            Layer::EmbedReward(e) => (e.forward(x, ctx.prev_reward.as_ref()), carry),
            Layer::Linear(l) => (linear(l, x), carry),
            Layer::Mlp(m) => (m.forward(x), carry),
            Layer::Act(a) => (a.forward(x), carry),
            Layer::Norm(n) => (n.forward(x), carry),
            Layer::Dropout(d) => (d.forward(x), carry),
            Layer::Ffn(f) => (f.forward(x), carry),
            Layer::Seq(s) => {
                let mut out = Vec::with_capacity(s.layers.len());
                let (mut x, mut carry) = (x, carry);
                for (i, l) in s.layers.iter().enumerate() {
                    let (y, c) = l.forward(x, start, carry.take_child(i), ctx);
                    x = y;
                    out.push(c);
                }
                (x, Carry::Tuple(out))
            }
            Layer::Residual(w) => {
                let (y, c) = w.inner[0].forward(x.clone(), start, carry, ctx);
                (x + y, c)
            }
            Layer::GatedResidual(g) => {
                let (y, c) = g.inner[0].forward(x.clone(), start, carry, ctx);
                let gate = linear_act(&g.gate, x.clone(), "sigmoid");
                (x + gate * y, c)
            }
            Layer::PreNorm(w) => w.inner[0].forward(w.norm.forward(x), start, carry, ctx),
            Layer::PostNorm(w) => {
                let (y, c) = w.inner[0].forward(x, start, carry, ctx);
                (w.norm.forward(y), c)
            }
            Layer::Gru(g) => g.forward(x, start, carry),
            Layer::Lstm(l) => l.forward(x, start, carry),
            Layer::MinGru(m) => m.forward(x, start, carry),
            Layer::Attention(a) => a.forward(x, start, carry, None, ctx.final_carry),
            Layer::SegmentRecurrence(s) => s.forward(x, start, carry, ctx.final_carry),
            Layer::Shared(r) => ctx.shared[r.id].forward(x, start, carry, ctx),
            Layer::LinearAttention(m) => m.forward(x, start, carry),
            Layer::Lru(m) => m.forward(x, start, carry),
            Layer::S5(m) => m.forward(x, start, carry),
            Layer::Ffm(m) => m.forward(x, start, carry),
            Layer::Mamba(m) => m.forward(x, start, carry),
            Layer::Slstm(m) => m.forward(x, start, carry),
            Layer::Mlstm(m) => m.forward(x, start, carry),
            Layer::Shm(m) => m.forward(x, start, carry),
            Layer::Rtu(m) => m.forward(x, start, carry),
            Layer::Rl2(m) => m.forward(x, carry, ctx),
            Layer::Rtrl(m) => m.forward(x, start, carry),
            Layer::Moe(m) => m.forward(x, start, carry, ctx),
            Layer::Cnn(m) => (m.forward(x), carry),
            Layer::Vit(m) => (m.forward(x), carry),
        }
    }
}
