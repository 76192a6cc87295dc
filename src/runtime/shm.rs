//! `shm(h, thetas)`: stable Hadamard memory (Le et al. 2025).
//!
//! `x ← LN(x)`; `v, k, q, v_c = W x` (F → H); `k̂ = relu(k)/(Σ relu(k) + 1e−5)`, `q̂` likewise;
//! `U_t = σ(η(x_t)) v_t ⊗ k̂_t`; `C_t = 1 + tanh(θ̄ ⊗ v_c(x_t))`; `M_t = M_{t−1} ⊙ C_t + U_t`
//! (H × H); `h_t = W_out(M_t q̂_t)`. The memory starts at zero and is zeroed before a start step.
//! Deviation: the reference samples a random row of the `L × H` θ table per step while
//! training; this runtime uses the row mean `θ̄` (deterministic, so every chunking agrees).
//! Initialisation: θ table xavier-uniform, layer norm gain 1 bias 0, burn default `Linear`
//! init elsewhere. Carry: `m: [B, H·H]` (row-major `M[i, j] = v_i k̂_j` layout).

use super::basic::{linear, linear_act};
use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::relu;

use super::carry::{Carry, reset_rows};
use super::scan::{start_at, step_at};

/// Stable Hadamard memory.
#[derive(Module, Debug)]
pub struct Shm {
    /// Input layer norm (F).
    pub norm: LayerNorm,
    /// Value F → H.
    pub v: Linear,
    /// Key F → H.
    pub k: Linear,
    /// Query F → H.
    pub q: Linear,
    /// Calibration value F → H.
    pub vc: Linear,
    /// Write strength F → 1.
    pub eta: Linear,
    /// θ table `[L, H]`.
    pub theta: Param<Tensor<2>>,
    /// Output H → H.
    pub out: Linear,
    /// Memory width H.
    pub hidden: usize,
}

fn normalise(u: Tensor<3>) -> Tensor<3> {
    let r = relu(u);
    r.clone() / r.sum_dim(2).add_scalar(1e-5)
}

impl Shm {
    /// An SHM on `f` features.
    pub fn new(f: usize, hidden: usize, thetas: usize, device: &Device) -> Self {
        let lin = |o: usize| LinearConfig::new(f, o).init(device);
        let bound = (6.0 / (thetas + hidden) as f64).sqrt();
        Shm {
            norm: LayerNormConfig::new(f).with_epsilon(1e-5).init(device),
            v: lin(hidden),
            k: lin(hidden),
            q: lin(hidden),
            vc: lin(hidden),
            eta: lin(1),
            theta: Param::from_tensor(Tensor::random(
                [thetas, hidden],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            out: LinearConfig::new(hidden, hidden).init(device),
            hidden,
        }
    }

    /// Zero memory.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        Carry::Leaf(vec![Tensor::zeros(
            [batch, self.hidden * self.hidden],
            device,
        )])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let hh = self.hidden;
        let x = self.norm.forward(x);
        let v = linear(&self.v, x.clone()) * linear_act(&self.eta, x.clone(), "sigmoid");
        let k = normalise(linear(&self.k, x.clone()));
        let q = normalise(linear(&self.q, x.clone()));
        let theta = self.theta.val().mean_dim(0).reshape([1, hh, 1]);
        let vc = linear(&self.vc, x);
        let mut m = carry.leaves()[0].clone();
        let mut ys = Vec::with_capacity(t_len);
        for t in 0..t_len {
            m = reset_rows(m, &start_at(start, t), None);
            let (vt, kt, qt, ct) = (
                step_at(&v, t),
                step_at(&k, t),
                step_at(&q, t),
                step_at(&vc, t),
            );
            let cal = (theta.clone() * ct.reshape([b, 1, hh]))
                .tanh()
                .add_scalar(1.0);
            let u = vt.reshape([b, hh, 1]).matmul(kt.reshape([b, 1, hh]));
            let m3 = m.reshape([b, hh, hh]) * cal + u;
            ys.push(m3.clone().matmul(qt.reshape([b, hh, 1])).reshape([b, hh]));
            m = m3.reshape([b, hh * hh]);
        }
        let y = linear(&self.out, Tensor::stack::<3>(ys, 0));
        (y, Carry::Leaf(vec![m]))
    }
}
