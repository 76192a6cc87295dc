//! `rtu(h)`: real-time recurrent unit (Elelimy et al. 2024), complex state as real/imag pairs.
//!
//! `λ = r e^{iθ}` with `r = exp(−exp(ν_log))`, `θ = exp(θ_log)`; `γ = √(1 − r²)` (a fixed function
//! of `r`, not a parameter); `h_t = λ ⊙ h_{t−1} + γ ⊙ (W_re x_t + i W_im x_t)`; output
//! `[relu(Re h_t) ‖ relu(Im h_t)]` (width 2h). The state starts at zero and is zeroed before a
//! start step. Initialisation: the LRU ring (`r ∈ [0, 1]`, phase up to 6.28, see
//! [`super::lru::ring_init`]); `W_re, W_im ~ N(0, 1/F)`. Carry: `re: [B, h]`, `im: [B, h]`.

use burn::module::{Module, Param};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::carry::Carry;
use super::lru::ring_init;
use super::scan::{Rng, complex_diag_scan, matmul3, param1, param2, step_at};

/// Real-time recurrent unit.
#[derive(Module, Debug)]
pub struct Rtu {
    /// `ν_log` (h).
    pub nu_log: Param<Tensor<1>>,
    /// `θ_log` (h).
    pub theta_log: Param<Tensor<1>>,
    /// Real input weights `[F, h]`.
    pub w_re: Param<Tensor<2>>,
    /// Imaginary input weights `[F, h]`.
    pub w_im: Param<Tensor<2>>,
    /// Complex hidden size h.
    pub hidden: usize,
}

impl Rtu {
    /// An RTU on `f` features with `hidden` complex units.
    pub fn new(f: usize, hidden: usize, device: &Device) -> Self {
        let mut rng = Rng::from_device(device);
        let (mut nu, mut th) = (vec![], vec![]);
        for _ in 0..hidden {
            let (u1, u2) = (rng.uniform(), rng.uniform());
            let (n, t, _) = ring_init(u1, u2, 0.0, 1.0, super::lru::MAX_PHASE);
            nu.push(n as f32);
            th.push(t as f32);
        }
        let s = (1.0 / f as f64).sqrt();
        Rtu {
            nu_log: param1(nu, device),
            theta_log: param1(th, device),
            w_re: param2(rng.normals(f * hidden, s), f, hidden, device),
            w_im: param2(rng.normals(f * hidden, s), f, hidden, device),
            hidden,
        }
    }

    /// `(λ_re, λ_im, γ)`.
    pub fn lambda(&self) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
        let r = self.nu_log.val().exp().neg().exp();
        let th = self.theta_log.val().exp();
        let gamma = r
            .clone()
            .powi_scalar(2)
            .neg()
            .add_scalar(1.0)
            .clamp_min(1e-12)
            .sqrt();
        (r.clone() * th.clone().cos(), r * th.sin(), gamma)
    }

    /// Zero state.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.hidden], device);
        Carry::Leaf(vec![z.clone(), z])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let (lr, li, g) = self.lambda();
        let g = g.unsqueeze_dim::<2>(0);
        let bu = (
            matmul3(x.clone(), self.w_re.val() * g.clone()),
            matmul3(x, self.w_im.val() * g),
        );
        let h0 = (carry.leaves()[0].clone(), carry.leaves()[1].clone());
        let (hr, hi) = complex_diag_scan((lr, li), bu, start, h0);
        let t = hr.dims()[0];
        let carry = Carry::Leaf(vec![step_at(&hr, t - 1), step_at(&hi, t - 1)]);
        (Tensor::cat(vec![relu(hr), relu(hi)], 2), carry)
    }
}
