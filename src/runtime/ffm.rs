//! `ffm(memory, context)`: fast and forgetful memory (Morad et al. 2023).
//!
//! `x̃_t = ℓ_pre(x_t) ⊙ σ(ℓ_gate(x_t)) ∈ ℝ^m`; `S_t = γ ⊙ S_{t−1} + x̃_t 1_cᵀ ∈ ℂ^{m×c}` with
//! `γ_{jl} = exp(α_j + iω_l)`, `α` clamped to `[−limit, −1e−8]`; `z_t = ℓ_mix([Re S_t ‖ Im S_t])`,
//! `y_t = LN(z_t) ⊙ σ(ℓ_out(x_t)) + ℓ_skip(x_t) ⊙ (1 − σ(ℓ_out(x_t)))` (LN without affine).
//! Time is rebased per call: the recurrence is applied step by step, so a rollout stepped one
//! step at a time decays exactly like the full sequence; the carried `t` counts steps since the
//! episode start (reset with the state). Initialisation (f32, max_len 1024, periods 1..1024):
//! `limit = ln(f32::MAX)/1024 − 0.01`, `α = linspace(−limit + 0.01, ln(0.01)/1024, m)`,
//! `ω = 2π / linspace(1, 1024, c)`; burn default `Linear` init elsewhere.
//! Carry: `re: [B, m·c]`, `im: [B, m·c]` (row-major `[m, c]`), `t: [B, 1]`.

use super::basic::{linear, linear_act};
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;

use super::carry::{Carry, reset_rows};
use super::scan::{param1, start_at, step_at};

/// Longest episode the decay initialisation plans for.
const MAX_LEN: f64 = 1024.0;

/// FFM decay initialisation `(α (m values), ω (c values), limit)` for f32.
pub fn ffm_init(m: usize, c: usize) -> (Vec<f64>, Vec<f64>, f64) {
    let limit = (f32::MAX as f64).ln() / MAX_LEN - 0.01;
    let low = -limit + 0.01;
    let high = (-1e-6f64).min(0.01f64.ln() / MAX_LEN).max(low);
    let lin = |a: f64, b: f64, n: usize| -> Vec<f64> {
        if n == 1 {
            return vec![a];
        }
        (0..n)
            .map(|i| a + (b - a) * i as f64 / (n - 1) as f64)
            .collect()
    };
    let alpha = lin(low, high, m);
    let omega = lin(1.0, MAX_LEN, c)
        .into_iter()
        .map(|p| std::f64::consts::TAU / p)
        .collect();
    (alpha, omega, limit)
}

/// Fast and forgetful memory.
#[derive(Module, Debug)]
pub struct Ffm {
    /// Pre projection F → m.
    pub pre: Linear,
    /// Input gate F → m.
    pub gate: Linear,
    /// Decay rates α (m).
    pub alpha: Param<Tensor<1>>,
    /// Frequencies ω (c).
    pub omega: Param<Tensor<1>>,
    /// Readout 2mc → F.
    pub mix: Linear,
    /// Output gate F → F.
    pub out: Linear,
    /// Skip F → F.
    pub skip: Linear,
    /// Memory size m.
    pub memory: usize,
    /// Context size c.
    pub context: usize,
    /// Clamp of α.
    pub limit: f64,
}

impl Ffm {
    /// An FFM on `f` features.
    pub fn new(f: usize, memory: usize, context: usize, device: &Device) -> Self {
        let (alpha, omega, limit) = ffm_init(memory, context);
        let v = |xs: Vec<f64>| xs.into_iter().map(|x| x as f32).collect::<Vec<_>>();
        Ffm {
            pre: LinearConfig::new(f, memory).init(device),
            gate: LinearConfig::new(f, memory).init(device),
            alpha: param1(v(alpha), device),
            omega: param1(v(omega), device),
            mix: LinearConfig::new(2 * memory * context, f).init(device),
            out: LinearConfig::new(f, f).init(device),
            skip: LinearConfig::new(f, f).init(device),
            memory,
            context,
            limit,
        }
    }

    /// Zero memory, time 0.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.memory * self.context], device);
        Carry::Leaf(vec![z.clone(), z, Tensor::zeros([batch, 1], device)])
    }

    /// `γ` as `(re, im)`, each `[1, m·c]`.
    pub fn gamma(&self) -> (Tensor<2>, Tensor<2>) {
        let (m, c) = (self.memory, self.context);
        let mag = self
            .alpha
            .val()
            .clamp(-self.limit, -1e-8)
            .exp()
            .reshape([m, 1]);
        let w = self.omega.val().reshape([1, c]);
        let re = (mag.clone() * w.clone().cos()).reshape([1, m * c]);
        let im = (mag * w.sin()).reshape([1, m * c]);
        (re, im)
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (m, c) = (self.memory, self.context);
        let xt = linear(&self.pre, x.clone()) * linear_act(&self.gate, x.clone(), "sigmoid");
        let (gr, gi) = self.gamma();
        let (mut sr, mut si) = (carry.leaves()[0].clone(), carry.leaves()[1].clone());
        let mut tt = carry.leaves()[2].clone();
        let mut outs = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let st = start_at(start, t);
            sr = reset_rows(sr, &st, None);
            si = reset_rows(si, &st, None);
            tt = reset_rows(tt, &st, None).add_scalar(1.0);
            let inp = step_at(&xt, t)
                .reshape([b, m, 1])
                .expand([b, m, c])
                .reshape([b, m * c]);
            let nr = gr.clone() * sr.clone() - gi.clone() * si.clone() + inp;
            let ni = gr.clone() * si + gi.clone() * sr;
            sr = nr;
            si = ni;
            outs.push(Tensor::cat(vec![sr.clone(), si.clone()], 1));
        }
        let z = linear(&self.mix, Tensor::stack::<3>(outs, 0));
        let mean = z.clone().mean_dim(2);
        let zc = z - mean;
        let var = zc.clone().powi_scalar(2).mean_dim(2);
        let ln = zc / var.add_scalar(1e-5).sqrt();
        let g = linear_act(&self.out, x.clone(), "sigmoid");
        let y = ln * g.clone() + linear(&self.skip, x) * g.neg().add_scalar(1.0);
        (y, Carry::Leaf(vec![sr, si, tt]))
    }
}
