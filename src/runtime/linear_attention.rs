//! `linear_attention(heads, head_dim)`: linear transformer memory (Katharopoulos et al. 2020).
//!
//! Per head, with `φ(u) = elu(u) + 1`: `S_t = S_{t−1} + v_t φ(k_t)ᵀ`, `z_t = z_{t−1} + φ(k_t)`,
//! `o_t = S_t φ(q_t) / max(z_tᵀ φ(q_t), ε)`; then RMSNorm over the `H·d` heads and an output
//! projection back to `F`. Both `S` and `z` start at zero and are zeroed before a start step.
//! Initialisation: burn's default `Linear` init for q, k, v and out (all with bias), RMSNorm
//! gain 1. Carry: `s: [B, H·d·d]` (row-major `[H, d_v, d_k]`), `z: [B, H·d]`.

use super::basic::linear;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;

use super::carry::{Carry, reset_rows};
use super::scan::{start_at, step_at};

/// Denominator floor of the normalised read.
const EPS: f32 = 1e-6;

/// Linear attention block.
#[derive(Module, Debug)]
pub struct LinearAttention {
    /// Query projection F → H·d.
    pub q: Linear,
    /// Key projection F → H·d.
    pub k: Linear,
    /// Value projection F → H·d.
    pub v: Linear,
    /// RMSNorm over H·d.
    pub norm: RmsNorm,
    /// Output projection H·d → F.
    pub out: Linear,
    /// Heads H.
    pub heads: usize,
    /// Head width d.
    pub head_dim: usize,
}

/// `elu(u) + 1`, written so that no branch overflows.
pub fn elu_plus_one(u: Tensor<3>) -> Tensor<3> {
    let pos = u.clone().greater_elem(0.0);
    u.clone()
        .clamp_max(0.0)
        .exp()
        .mask_where(pos, u.add_scalar(1.0))
}

impl LinearAttention {
    /// A block on `f` features.
    pub fn new(f: usize, heads: usize, head_dim: usize, device: &Device) -> Self {
        let hd = heads * head_dim;
        LinearAttention {
            q: LinearConfig::new(f, hd).init(device),
            k: LinearConfig::new(f, hd).init(device),
            v: LinearConfig::new(f, hd).init(device),
            norm: RmsNormConfig::new(hd).with_epsilon(1e-6).init(device),
            out: LinearConfig::new(hd, f).init(device),
            heads,
            head_dim,
        }
    }

    /// Zero state.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let (h, d) = (self.heads, self.head_dim);
        Carry::Leaf(vec![
            Tensor::zeros([batch, h * d * d], device),
            Tensor::zeros([batch, h * d], device),
        ])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (h, d) = (self.heads, self.head_dim);
        let q = elu_plus_one(linear(&self.q, x.clone()));
        let k = elu_plus_one(linear(&self.k, x.clone()));
        let v = linear(&self.v, x);
        let mut s = carry.leaves()[0].clone();
        let mut z = carry.leaves()[1].clone();
        let mut outs = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let st = start_at(start, t);
            s = reset_rows(s, &st, None);
            z = reset_rows(z, &st, None);
            let (qt, kt, vt) = (step_at(&q, t), step_at(&k, t), step_at(&v, t));
            z = z + kt.clone();
            let kt4 = kt.reshape([b, h, 1, d]);
            let vt4 = vt.reshape([b, h, d, 1]);
            let s4 = s.reshape([b, h, d, d]) + vt4.matmul(kt4);
            let q4 = qt.clone().reshape([b, h, d, 1]);
            let num = s4.clone().matmul(q4).reshape([b, h, d]);
            let den = (z.clone().reshape([b, h, d]) * qt.reshape([b, h, d]))
                .sum_dim(2)
                .clamp_min(EPS);
            outs.push((num / den).reshape([b, h * d]));
            s = s4.reshape([b, h * d * d]);
        }
        let o: Tensor<3> = Tensor::stack(outs, 0);
        let y = linear(&self.out, self.norm.forward(o));
        (y, Carry::Leaf(vec![s, z]))
    }
}
