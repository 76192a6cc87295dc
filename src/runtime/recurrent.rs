//! Recurrent cells (`gru`, `lstm`, `mingru`) over whole sequences with episode resets.
//!
//! The carry of every cell starts at zero and is reset to zero before consuming a step whose
//! `start` flag is set. Sequences are `[T, B, F]`; a single acting step is `T = 1`.

use super::basic::{linear, linear_act};
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

use super::carry::Carry;

/// Row `t` of a `[T, B, F]` tensor as `[B, F]`.
fn step_at(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [_, b, f] = x.dims();
    x.clone().narrow(0, t, 1).reshape([b, f])
}

/// The last step of `[T, B, F]` as `[B, F]`.
pub fn last_step(x: &Tensor<3>) -> Tensor<2> {
    step_at(x, x.dims()[0] - 1)
}

/// Gated recurrent unit with fused gates (`W_x`: F→3H, `W_h`: H→3H, both with bias).
#[derive(Module, Debug)]
pub struct Gru {
    /// Input projection to the three gates.
    pub wx: Linear,
    /// Recurrent projection to the three gates.
    pub wh: Linear,
    /// Hidden width.
    pub hidden: usize,
}

impl Gru {
    /// A GRU from `input` to `hidden` features.
    pub fn new(input: usize, hidden: usize, device: &Device) -> Self {
        Gru {
            wx: LinearConfig::new(input, 3 * hidden).init(device),
            wh: LinearConfig::new(hidden, 3 * hidden).init(device),
            hidden,
        }
    }
    /// Zero state for `batch` environments.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        Carry::Leaf(vec![Tensor::zeros([batch, self.hidden], device)])
    }
    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let h0 = carry.leaves()[0].clone();
        let gx = linear(&self.wx, x);
        let bh = self
            .wh
            .bias
            .as_ref()
            .map(|b| b.val())
            .expect("gru recurrent bias");
        let hs = super::fused::gru_sequence(gx, self.wh.weight.val(), bh, h0, start.clone());
        let last = last_step(&hs);
        (hs, Carry::Leaf(vec![last]))
    }
}

/// Long short-term memory with fused gates (`W_x`: F→4H, `W_h`: H→4H, both with bias).
#[derive(Module, Debug)]
pub struct Lstm {
    /// Input projection to the four gates.
    pub wx: Linear,
    /// Recurrent projection to the four gates.
    pub wh: Linear,
    /// Hidden width.
    pub hidden: usize,
}

impl Lstm {
    /// An LSTM from `input` to `hidden` features.
    pub fn new(input: usize, hidden: usize, device: &Device) -> Self {
        Lstm {
            wx: LinearConfig::new(input, 4 * hidden).init(device),
            wh: LinearConfig::new(hidden, 4 * hidden).init(device),
            hidden,
        }
    }
    /// Zero `(h, c)` for `batch` environments.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.hidden], device);
        Carry::Leaf(vec![z.clone(), z])
    }
    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let (h0, c0) = (carry.leaves()[0].clone(), carry.leaves()[1].clone());
        let gx = linear(&self.wx, x);
        let bh = self
            .wh
            .bias
            .as_ref()
            .map(|b| b.val())
            .expect("lstm recurrent bias");
        let (hs, cs) =
            super::fused::lstm_sequence(gx, self.wh.weight.val(), bh, h0, c0, start.clone());
        let (h, c) = (last_step(&hs), last_step(&cs));
        (hs, Carry::Leaf(vec![h, c]))
    }
}

/// Minimal GRU (Feng et al. 2024): gates depend only on the input, so the recurrence is linear.
///
/// `z = σ(W_z x)`, `h̃ = g(W_h x)` with `g(v) = v + 0.5` for `v ≥ 0` else `σ(v)`,
/// `h = (1 − z) ⊙ h_prev + z ⊙ h̃`. No biases (as memorax).
#[derive(Module, Debug)]
pub struct MinGru {
    /// Gate projection.
    pub wz: Linear,
    /// Candidate projection.
    pub wh: Linear,
    /// Hidden width.
    pub hidden: usize,
}

impl MinGru {
    /// A MinGRU from `input` to `hidden` features.
    pub fn new(input: usize, hidden: usize, device: &Device) -> Self {
        MinGru {
            wz: LinearConfig::new(input, hidden)
                .with_bias(false)
                .init(device),
            wh: LinearConfig::new(input, hidden)
                .with_bias(false)
                .init(device),
            hidden,
        }
    }
    /// Zero state.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        Carry::Leaf(vec![Tensor::zeros([batch, self.hidden], device)])
    }
    /// Run over `[T, B, F]`: gates for all steps at once, then the fused linear recurrence.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let z = linear_act(&self.wz, x.clone(), "sigmoid");
        let v = linear(&self.wh, x);
        let pos = v.clone().greater_equal_elem(0.0);
        let cand = sigmoid(v.clone()).mask_where(pos, v.add_scalar(0.5));
        // h_t = a_t h_{t-1} + b_t with a = 1 - z, b = z * cand
        let a = z.clone().neg().add_scalar(1.0);
        let b = z * cand;
        let h0 = carry.leaves()[0].clone();
        let hs = super::fused::scan::linear_scan(a, b, h0, start.clone());
        let last = last_step(&hs);
        (hs, Carry::Leaf(vec![last]))
    }
}
