//! Stateless building blocks: activations, MLP, FFN, norms.

use burn::module::Module;
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation;

/// An elementwise activation, chosen by name (`relu`, `gelu`, `silu`, `tanh`, `sigmoid`, `identity`).
#[derive(Module, Debug)]
pub struct Act {
    /// Activation name.
    pub kind: String,
}

impl Act {
    /// An activation by name.
    pub fn new(kind: &str) -> Self {
        Act {
            kind: kind.to_string(),
        }
    }
    /// Apply the activation.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        apply_act(&self.kind, x)
    }
}

/// Apply an activation given by name.
pub fn apply_act<const D: usize>(kind: &str, x: Tensor<D>) -> Tensor<D> {
    match kind {
        "relu" => activation::relu(x),
        "gelu" => super::fused::gelu::gelu(x),
        "silu" => activation::silu(x),
        "tanh" => activation::tanh(x),
        "sigmoid" => activation::sigmoid(x),
        _ => x,
    }
}

/// `l(x)` through the fused dense op (one custom op on the CPU backend instead of burn's
/// matmul + bias add).
pub fn linear<const D: usize>(l: &Linear, x: Tensor<D>) -> Tensor<D> {
    linear_act(l, x, "identity")
}

/// `act(l(x))` as one fused dense op on the CPU backend (see `fused::dense`).
pub fn linear_act<const D: usize>(l: &Linear, x: Tensor<D>, act: &str) -> Tensor<D> {
    super::fused::dense::dense(x, l.weight.val(), l.bias.as_ref().map(|b| b.val()), act)
}

/// A stack of linear layers, each followed by the activation.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Linear layers in order.
    pub layers: Vec<Linear>,
    /// Activation after every layer.
    pub act: Act,
}

impl Mlp {
    /// Build `in -> w1 -> ... -> wn`.
    pub fn new(input: usize, widths: &[usize], act: &str, device: &Device) -> Self {
        let mut d = input;
        let mut layers = Vec::with_capacity(widths.len());
        for &w in widths {
            layers.push(LinearConfig::new(d, w).init(device));
            d = w;
        }
        Mlp {
            layers,
            act: Act::new(act),
        }
    }
    /// Apply every layer and activation.
    pub fn forward<const D: usize>(&self, mut x: Tensor<D>) -> Tensor<D> {
        for l in &self.layers {
            x = linear_act(l, x, &self.act.kind);
        }
        x
    }
}

/// Width-preserving feed-forward block: `linear(F, eF) -> act -> linear(eF, F)`.
#[derive(Module, Debug)]
pub struct Ffn {
    /// Up projection.
    pub up: Linear,
    /// Down projection.
    pub down: Linear,
    /// Activation between them.
    pub act: Act,
}

impl Ffn {
    /// Build for width `f` and expansion `e`.
    pub fn new(f: usize, e: usize, act: &str, device: &Device) -> Self {
        Ffn {
            up: LinearConfig::new(f, f * e).init(device),
            down: LinearConfig::new(f * e, f).init(device),
            act: Act::new(act),
        }
    }
    /// Apply.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(&self.down, linear_act(&self.up, x, &self.act.kind))
    }
}

/// The epsilon of every `layernorm` (burn's `LayerNorm` keeps its own private).
const LAYER_NORM_EPS: f64 = 1e-5;

/// A normalisation layer (`layernorm` or `rmsnorm`).
#[derive(Module, Debug)]
pub enum Norm {
    /// Layer normalisation with scale and bias.
    Layer(LayerNorm),
    /// RMS normalisation with scale.
    Rms(RmsNorm),
}

impl Norm {
    /// Build a norm by name over `f` features.
    pub fn new(kind: &str, f: usize, device: &Device) -> Self {
        match kind {
            "rmsnorm" => Norm::Rms(RmsNormConfig::new(f).with_epsilon(1e-6).init(device)),
            _ => Norm::Layer(
                LayerNormConfig::new(f)
                    .with_epsilon(LAYER_NORM_EPS)
                    .init(device),
            ),
        }
    }
    /// Apply over the last axis (one fused op on the CPU backend, see `fused::norm`).
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        use super::fused::norm::norm;
        match self {
            Norm::Layer(n) => norm(
                x,
                n.gamma.val(),
                n.beta.as_ref().map(|b| b.val()),
                true,
                LAYER_NORM_EPS,
            ),
            Norm::Rms(n) => norm(x, n.gamma.val(), None, false, n.epsilon),
        }
    }
}
