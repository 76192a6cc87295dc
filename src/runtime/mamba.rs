//! `mamba(heads, head_dim, state, conv)`: Mamba-2 style selective state-space block (memorax
//! `MambaCell`), with the causal-conv window carried and reset on episode starts.
//!
//! `[z, xBC, dt] = W_in x`; `xBC ← silu(conv(xBC))` split into `x (H·P)`, `B (N)`, `C (N)`;
//! `Δ = softplus(dt + dt_bias)`, `A = −exp(A_log)`; per head `h_t = exp(Δ A) h_{t−1} + Δ B ⊗ x_t`
//! (`N × P`); `y = Cᵀ h_t + D ⊙ x_t`; out `= W_out(RMSNorm(y) ⊙ silu(z))`. The state and conv
//! window are zeroed before a start step. Initialisation: `A = U[1, 16]`, `A_log = ln A`;
//! `dt_bias = Δ₀ + ln(−expm1(−Δ₀))` (inverse softplus, [`inv_softplus`]) with `Δ₀` log-uniform
//! in `[1e−3, 0.1]`; `D = 1`; RMSNorm gain 1; conv as [`CausalConv`]; burn default `Linear`
//! init (no biases) for the projections. Carry: `h: [B, H·N·P]` (`[H, N, P]`),
//! `conv: [B, (K−1)·(H·P + 2N)]`.

use super::basic::linear;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use burn::tensor::activation::{silu, softplus};

use super::carry::{Carry, reset_rows};
use super::conv::CausalConv;
use super::scan::{Rng, param1, start_at, step_at};

/// `softplus⁻¹(Δ) = Δ + ln(−expm1(−Δ))`.
pub fn inv_softplus(dt: f64) -> f64 {
    dt + (-(-dt).exp_m1()).ln()
}

/// Mamba-2 style block.
#[derive(Module, Debug)]
pub struct Mamba {
    /// Input projection F → 2D + 2N + H (no bias).
    pub in_proj: Linear,
    /// Causal depthwise conv over the `D + 2N` channels of `xBC`.
    pub conv: CausalConv,
    /// Step bias per head (H).
    pub dt_bias: Param<Tensor<1>>,
    /// `ln(−A)` per head (H).
    pub a_log: Param<Tensor<1>>,
    /// Skip per head (H).
    pub d: Param<Tensor<1>>,
    /// RMSNorm over D.
    pub norm: RmsNorm,
    /// Output projection D → F (no bias).
    pub out_proj: Linear,
    /// Heads H.
    pub heads: usize,
    /// Head width P.
    pub head_dim: usize,
    /// State size N.
    pub state: usize,
}

impl Mamba {
    /// A block on `f` features.
    pub fn new(
        f: usize,
        heads: usize,
        head_dim: usize,
        state: usize,
        kernel: usize,
        device: &Device,
    ) -> Self {
        let d = heads * head_dim;
        let mut rng = Rng::from_device(device);
        let (lo, hi) = (1e-3f64.ln(), 0.1f64.ln());
        let dt_bias = (0..heads)
            .map(|_| inv_softplus((lo + (hi - lo) * rng.uniform()).exp().max(1e-4)) as f32)
            .collect();
        let a_log = (0..heads)
            .map(|_| (1.0 + 15.0 * rng.uniform()).ln() as f32)
            .collect();
        Mamba {
            in_proj: LinearConfig::new(f, 2 * d + 2 * state + heads)
                .with_bias(false)
                .init(device),
            conv: CausalConv::new(kernel, d + 2 * state, device),
            dt_bias: param1(dt_bias, device),
            a_log: param1(a_log, device),
            d: param1(vec![1.0; heads], device),
            norm: RmsNormConfig::new(d).with_epsilon(1e-6).init(device),
            out_proj: LinearConfig::new(d, f).with_bias(false).init(device),
            heads,
            head_dim,
            state,
        }
    }

    /// Zero state and empty conv window.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let n = self.heads * self.state * self.head_dim;
        Carry::Leaf(vec![
            Tensor::zeros([batch, n], device),
            self.conv.init_window(batch, device),
        ])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (hh, p, n) = (self.heads, self.head_dim, self.state);
        let d = hh * p;
        let proj = linear(&self.in_proj, x);
        let z = proj.clone().narrow(2, 0, d);
        let xbc = proj.clone().narrow(2, d, d + 2 * n);
        let dt = softplus(
            proj.narrow(2, 2 * d + 2 * n, hh)
                + self.dt_bias.val().unsqueeze_dim::<2>(0).unsqueeze_dim(0),
            1.0,
        );
        let a = self.a_log.val().exp().neg().unsqueeze_dim::<2>(0);
        let dskip = self.d.val().reshape([1, hh, 1]);
        let mut h = carry.leaves()[0].clone();
        let mut win = carry.leaves()[1].clone();
        let mut ys = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let st = start_at(start, t);
            h = reset_rows(h, &st, None);
            let (c_out, w2) = self.conv.step(win, step_at(&xbc, t), &st);
            win = w2;
            let u = silu(c_out);
            let xs = u.clone().narrow(1, 0, d).reshape([b, hh, 1, p]);
            let bt = u.clone().narrow(1, d, n).reshape([b, 1, n, 1]);
            let ct = u.narrow(1, d + n, n).reshape([b, 1, n, 1]);
            let dtt = step_at(&dt, t);
            let decay = (dtt.clone() * a.clone()).exp().reshape([b, hh, 1, 1]);
            let h4 =
                h.reshape([b, hh, n, p]) * decay + dtt.reshape([b, hh, 1, 1]) * bt * xs.clone();
            let y = (h4.clone() * ct).sum_dim(2).reshape([b, hh, p])
                + dskip.clone() * xs.reshape([b, hh, p]);
            ys.push(y.reshape([b, d]));
            h = h4.reshape([b, hh * n * p]);
        }
        let y: Tensor<3> = Tensor::stack(ys, 0);
        let out = linear(&self.out_proj, self.norm.forward(y) * silu(z));
        (out, Carry::Leaf(vec![h, win]))
    }
}
