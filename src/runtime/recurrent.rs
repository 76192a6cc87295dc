//! Recurrent cells (`gru`, `lstm`, `mingru`) over whole sequences with episode resets.
//!
//! The carry of every cell starts at zero and is reset to zero before consuming a step whose
//! `start` flag is set. Sequences are `[T, B, F]`; a single acting step is `T = 1`.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

use super::carry::{Carry, reset_rows};

/// Per-timestep start flags `[B]` of step `t` from `[T, B]`.
fn start_at(start: &Tensor<2>, t: usize) -> Tensor<1> {
    let b = start.dims()[1];
    start.clone().narrow(0, t, 1).reshape([b])
}

/// Row `t` of a `[T, B, F]` tensor as `[B, F]`.
fn step_at(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [_, b, f] = x.dims();
    x.clone().narrow(0, t, 1).reshape([b, f])
}

/// The last step of `[T, B, F]` as `[B, F]`.
pub fn last_step(x: &Tensor<3>) -> Tensor<2> {
    step_at(x, x.dims()[0] - 1)
}

/// GRU over a sequence as per-step tensor ops (reference form; any device, autodiff-able).
///
/// `gx`: `[T, B, 3H]` input projections (gate order r, z, n); `wh`: `[H, 3H]`; `bh`: `[3H]`;
/// `h0`: `[B, H]`; `start`: `[T, B]` (1.0 resets the state to zero before step t).
pub fn gru_sequence_reference(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    start: Tensor<2>,
) -> Tensor<3> {
    let t_len = gx.dims()[0];
    let hdim = h0.dims()[1];
    let bh = bh.unsqueeze_dim::<2>(0);
    let mut h = h0;
    let mut outs = Vec::with_capacity(t_len);
    for t in 0..t_len {
        h = reset_rows(h, &start_at(&start, t), None);
        let g = step_at(&gx, t);
        let gh = h.clone().matmul(wh.clone()) + bh.clone();
        let xr = g.clone().narrow(1, 0, hdim);
        let xz = g.clone().narrow(1, hdim, hdim);
        let xn = g.narrow(1, 2 * hdim, hdim);
        let hr = gh.clone().narrow(1, 0, hdim);
        let hz = gh.clone().narrow(1, hdim, hdim);
        let hn = gh.narrow(1, 2 * hdim, hdim);
        let r = sigmoid(xr + hr);
        let z = sigmoid(xz + hz);
        let n = tanh(xn + r * hn);
        h = n.clone() + z * (h - n);
        outs.push(h.clone());
    }
    Tensor::stack(outs, 0)
}

/// LSTM over a sequence as per-step tensor ops (reference form). Gate order i, f, g, o.
/// Returns `(hs, cs)`, each `[T, B, H]`.
pub fn lstm_sequence_reference(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    start: Tensor<2>,
) -> (Tensor<3>, Tensor<3>) {
    let t_len = gx.dims()[0];
    let hdim = h0.dims()[1];
    let bh = bh.unsqueeze_dim::<2>(0);
    let (mut h, mut c) = (h0, c0);
    let (mut hs, mut cs) = (Vec::with_capacity(t_len), Vec::with_capacity(t_len));
    for t in 0..t_len {
        let s = start_at(&start, t);
        h = reset_rows(h, &s, None);
        c = reset_rows(c, &s, None);
        let g = step_at(&gx, t) + h.clone().matmul(wh.clone()) + bh.clone();
        let i = sigmoid(g.clone().narrow(1, 0, hdim));
        let f = sigmoid(g.clone().narrow(1, hdim, hdim));
        let gg = tanh(g.clone().narrow(1, 2 * hdim, hdim));
        let o = sigmoid(g.narrow(1, 3 * hdim, hdim));
        c = f * c + i * gg;
        h = o * tanh(c.clone());
        hs.push(h.clone());
        cs.push(c.clone());
    }
    (Tensor::stack(hs, 0), Tensor::stack(cs, 0))
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
        let gx = self.wx.forward(x);
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
        let gx = self.wx.forward(x);
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
    /// Run over `[T, B, F]`: gates for all steps at once, then the linear recurrence.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let z = sigmoid(self.wz.forward(x.clone()));
        let v = self.wh.forward(x);
        let pos = v.clone().greater_equal_elem(0.0);
        let cand = sigmoid(v.clone()).mask_where(pos, v.add_scalar(0.5));
        // h_t = a_t h_{t-1} + b_t with a = 1 - z, b = z * cand
        let a = z.clone().neg().add_scalar(1.0);
        let b = z * cand;
        let t_len = a.dims()[0];
        let mut h = carry.leaves()[0].clone();
        let mut outs = Vec::with_capacity(t_len);
        for t in 0..t_len {
            h = reset_rows(h, &start_at(start, t), None);
            h = step_at(&a, t) * h + step_at(&b, t);
            outs.push(h.clone());
        }
        let hs: Tensor<3> = Tensor::stack(outs, 0);
        let last = last_step(&hs);
        (hs, Carry::Leaf(vec![last]))
    }
}
