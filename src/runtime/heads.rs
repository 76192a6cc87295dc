//! Output heads: categorical and Gaussian policies, Q-values, state values.

use super::basic::linear;
use burn::module::{Module, Param};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;

/// A lowered head. Every head maps features `[.., F]` to outputs `[.., n]`.
#[derive(Module, Debug)]
pub enum HeadLayer {
    /// Logits of a categorical policy.
    Categorical(Linear),
    /// Mean of a diagonal Gaussian policy with state-independent log-std.
    Gaussian(GaussianHead),
    /// Q-values per discrete action.
    Q(Linear),
    /// Two independent Q-value heads (outputs concatenated: `[q1 | q2]`).
    TwinQ(TwinQ),
    /// State value.
    Value(Linear),
}

/// Gaussian policy head.
#[derive(Module, Debug)]
pub struct GaussianHead {
    /// Mean projection.
    pub mean: Linear,
    /// Log standard deviation per action dimension.
    pub log_std: Param<Tensor<1>>,
    /// Squash samples with tanh (SAC).
    pub squash: bool,
}

/// Twin Q heads.
#[derive(Module, Debug)]
pub struct TwinQ {
    /// First Q head.
    pub q1: Linear,
    /// Second Q head.
    pub q2: Linear,
}

/// A linear layer with orthogonal weights (scaled by `gain`) and zero bias.
fn ortho(input: usize, out: usize, gain: f64, device: &Device) -> Linear {
    let mut l = LinearConfig::new(input, out)
        .with_initializer(Initializer::Zeros)
        .init(device);
    l.weight = Initializer::Orthogonal { gain }.init([input, out], device);
    l
}

impl HeadLayer {
    /// Build a head by registry name (`categorical`, `gaussian`, `q`, `twin_q`, `value`).
    pub fn new(
        kind: &str,
        input: usize,
        outputs: usize,
        squash: bool,
        device: &Device,
    ) -> Option<Self> {
        Some(match kind {
            "categorical" => HeadLayer::Categorical(ortho(input, outputs, 0.01, device)),
            "gaussian" => HeadLayer::Gaussian(GaussianHead {
                mean: ortho(input, outputs, 0.01, device),
                log_std: Param::from_tensor(Tensor::zeros([outputs], device)),
                squash,
            }),
            "q" => HeadLayer::Q(ortho(input, outputs, 1.0, device)),
            "twin_q" => HeadLayer::TwinQ(TwinQ {
                q1: ortho(input, outputs, 1.0, device),
                q2: ortho(input, outputs, 1.0, device),
            }),
            "value" => HeadLayer::Value(ortho(input, 1, 1.0, device)),
            _ => return None,
        })
    }

    /// Apply the head to features `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match self {
            HeadLayer::Categorical(l) | HeadLayer::Q(l) | HeadLayer::Value(l) => linear(l, x),
            HeadLayer::Gaussian(g) => linear(&g.mean, x),
            HeadLayer::TwinQ(t) => Tensor::cat(vec![linear(&t.q1, x.clone()), linear(&t.q2, x)], 2),
        }
    }

    /// The log-std parameter of a Gaussian head.
    pub fn log_std(&self) -> Option<Tensor<1>> {
        match self {
            HeadLayer::Gaussian(g) => Some(g.log_std.val()),
            _ => None,
        }
    }
}
