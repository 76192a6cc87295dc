//! Image encoders for grid observations: `cnn(channels..., kernel, side, act)` and
//! `vit(patch, depth, heads, width, side, expansion)`.
//!
//! The flat observation row is an `s × s × c0` image in C order (`(i · s + j) · c0 + c`, as
//! the grid worlds emit it). `cnn` applies same-padded, stride-1 convolutions (burn `Conv2d`,
//! default initialisation) with the activation after each, and flattens back in the same
//! order (`s · s · c_last`). `vit` cuts `p × p` patches, embeds them linearly, adds a learned
//! position embedding, runs `depth` pre-norm transformer layers (multi-head self-attention and a
//! GELU FFN, both residual), applies a final layer norm and averages the tokens (`width`).
//! Both are stateless: the carry is `()` and every `(t, b)` is encoded independently.

use super::basic::linear;
use burn::module::{Module, Param};
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;

use super::basic::apply_act;

/// Convolutional encoder.
#[derive(Module, Debug)]
pub struct Cnn {
    /// Convolutions in order.
    pub convs: Vec<Conv2d>,
    /// Activation after every convolution.
    pub act: String,
    /// Image side s.
    pub side: usize,
    /// Input channels c0.
    pub channels: usize,
}

impl Cnn {
    /// `s × s × c0` input, the given output channels per layer, odd square `kernel`.
    pub fn new(
        side: usize,
        c0: usize,
        channels: &[usize],
        kernel: usize,
        act: &str,
        device: &Device,
    ) -> Self {
        let pad = kernel / 2;
        let mut cin = c0;
        let mut convs = Vec::with_capacity(channels.len());
        for &c in channels {
            convs.push(
                Conv2dConfig::new([cin, c], [kernel, kernel])
                    .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                    .init(device),
            );
            cin = c;
        }
        Cnn {
            convs,
            act: act.to_string(),
            side,
            channels: c0,
        }
    }

    /// Encode `x: [T, B, s·s·c0]` → `[T, B, s·s·c_last]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [t, b, _] = x.dims();
        let s = self.side;
        let mut h: Tensor<4> = x
            .reshape([t * b, s, s, self.channels])
            .permute([0, 3, 1, 2]);
        for conv in &self.convs {
            h = apply_act(&self.act, conv.forward(h));
        }
        let c = h.dims()[1];
        h.permute([0, 2, 3, 1]).reshape([t, b, s * s * c])
    }
}

/// One pre-norm transformer layer of [`Vit`].
#[derive(Module, Debug)]
pub struct VitLayer {
    /// Norm before attention.
    pub norm1: LayerNorm,
    /// Self-attention over the patch tokens.
    pub attn: MultiHeadAttention,
    /// Norm before the FFN.
    pub norm2: LayerNorm,
    /// FFN up-projection.
    pub up: Linear,
    /// FFN down-projection.
    pub down: Linear,
}

/// Vision-transformer encoder with mean pooling over patch tokens.
#[derive(Module, Debug)]
pub struct Vit {
    /// Patch embedding `p·p·c0 → width`.
    pub embed: Linear,
    /// Learned position embedding `[tokens, width]`.
    pub pos: Param<Tensor<2>>,
    /// Transformer layers.
    pub layers: Vec<VitLayer>,
    /// Final norm.
    pub norm: LayerNorm,
    /// Image side s.
    pub side: usize,
    /// Input channels c0.
    pub channels: usize,
    /// Patch side p.
    pub patch: usize,
}

/// Arguments of [`Vit::new`].
#[derive(Clone, Copy, Debug)]
pub struct VitShape {
    /// Image side s.
    pub side: usize,
    /// Input channels c0.
    pub channels: usize,
    /// Patch side p (divides s).
    pub patch: usize,
    /// Layers.
    pub depth: usize,
    /// Attention heads (divide `width`).
    pub heads: usize,
    /// Token width.
    pub width: usize,
    /// FFN expansion.
    pub expansion: usize,
}

impl Vit {
    /// A ViT of the given shape.
    pub fn new(v: VitShape, device: &Device) -> Self {
        let w = v.width;
        let tokens = (v.side / v.patch) * (v.side / v.patch);
        let layers = (0..v.depth)
            .map(|_| VitLayer {
                norm1: LayerNormConfig::new(w).init(device),
                attn: MultiHeadAttentionConfig::new(w, v.heads)
                    .with_dropout(0.0)
                    .init(device),
                norm2: LayerNormConfig::new(w).init(device),
                up: LinearConfig::new(w, v.expansion * w).init(device),
                down: LinearConfig::new(v.expansion * w, w).init(device),
            })
            .collect();
        Vit {
            embed: LinearConfig::new(v.patch * v.patch * v.channels, w).init(device),
            pos: Param::from_tensor(Tensor::random(
                [tokens, w],
                Distribution::Normal(0.0, 0.02),
                device,
            )),
            layers,
            norm: LayerNormConfig::new(w).init(device),
            side: v.side,
            channels: v.channels,
            patch: v.patch,
        }
    }

    /// Encode `x: [T, B, s·s·c0]` → `[T, B, width]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [t, b, _] = x.dims();
        let (s, p, c) = (self.side, self.patch, self.channels);
        let g = s / p;
        let n = t * b;
        let patches: Tensor<3> =
            x.reshape([n * g, p, g, p * c])
                .swap_dims(1, 2)
                .reshape([n, g * g, p * p * c]);
        let mut h = linear(&self.embed, patches) + self.pos.val().unsqueeze_dim::<3>(0);
        for l in &self.layers {
            let a = l
                .attn
                .forward(MhaInput::self_attn(l.norm1.forward(h.clone())));
            h = h + a.context;
            let f = l
                .down
                .forward(apply_act("gelu", linear(&l.up, l.norm2.forward(h.clone()))));
            h = h + f;
        }
        let w = h.dims()[2];
        self.norm.forward(h).mean_dim(1).reshape([t, b, w])
    }
}
