//! `lru(state)`: linear recurrent unit (Orvieto et al. 2023), complex state as real/imag pairs.
//!
//! `λ = exp(−exp(ν_log) + i·exp(θ_log))`, `h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t)` with
//! `γ = exp(γ_log)`, `y_t = Re(C h_t) + D ⊙ x_t`. The state starts at zero and is zeroed before a
//! start step. Initialisation (memorax defaults): ring `r_min = 0`, `r_max = 1`,
//! `max_phase = 6.28` with `u₁, u₂ ~ U[0, 1]` ([`ring_init`]), `γ_log = log √(1 − |λ|²)`,
//! `B_re, B_im ~ N(0, 1/(2F))`, `C_re, C_im ~ N(0, 1/H)`, `D ~ N(0, 1)`.
//! Carry: `re: [B, H]`, `im: [B, H]`.

use burn::module::{Module, Param};
use burn::prelude::*;

use super::carry::Carry;
use super::scan::{Rng, complex_diag_scan, matmul3, param1, param2};

/// Phase range of the ring initialisation (memorax's literal 6.28, not 2π).
#[allow(clippy::approx_constant)]
pub const MAX_PHASE: f64 = 6.28;

/// Ring initialisation of one eigenvalue from `u₁, u₂ ∈ [0, 1]`: `(ν_log, θ_log, γ_log)`.
pub fn ring_init(u1: f64, u2: f64, r_min: f64, r_max: f64, max_phase: f64) -> (f64, f64, f64) {
    let r2 = (u1 * (r_max * r_max - r_min * r_min) + r_min * r_min).max(1e-12);
    let nu_log = (-0.5 * r2.ln()).max(1e-12).ln();
    let theta_log = (max_phase * u2).max(1e-12).ln();
    let gamma_log = (1.0 - r2).max(1e-12).sqrt().ln();
    (nu_log, theta_log, gamma_log)
}

/// Linear recurrent unit.
#[derive(Module, Debug)]
pub struct Lru {
    /// `ν_log` (H): magnitude `|λ| = exp(−exp(ν_log))`.
    pub nu_log: Param<Tensor<1>>,
    /// `θ_log` (H): phase `exp(θ_log)`.
    pub theta_log: Param<Tensor<1>>,
    /// `γ_log` (H): input normalisation.
    pub gamma_log: Param<Tensor<1>>,
    /// Real part of B, stored `[F, H]`.
    pub b_re: Param<Tensor<2>>,
    /// Imaginary part of B, stored `[F, H]`.
    pub b_im: Param<Tensor<2>>,
    /// Real part of C, stored `[H, F]`.
    pub c_re: Param<Tensor<2>>,
    /// Imaginary part of C, stored `[H, F]`.
    pub c_im: Param<Tensor<2>>,
    /// Skip D (F).
    pub d: Param<Tensor<1>>,
    /// State size H.
    pub state: usize,
}

impl Lru {
    /// An LRU on `f` features with `state` complex states (memorax ring defaults).
    pub fn new(f: usize, state: usize, device: &Device) -> Self {
        let mut rng = Rng::from_device(device);
        let (mut nu, mut th, mut ga) = (vec![], vec![], vec![]);
        for _ in 0..state {
            let (u1, u2) = (rng.uniform(), rng.uniform());
            let (n, t, g) = ring_init(u1, u2, 0.0, 1.0, MAX_PHASE);
            nu.push(n as f32);
            th.push(t as f32);
            ga.push(g as f32);
        }
        let bs = (1.0 / (2.0 * f as f64)).sqrt();
        let cs = (1.0 / state as f64).sqrt();
        Lru {
            nu_log: param1(nu, device),
            theta_log: param1(th, device),
            gamma_log: param1(ga, device),
            b_re: param2(rng.normals(f * state, bs), f, state, device),
            b_im: param2(rng.normals(f * state, bs), f, state, device),
            c_re: param2(rng.normals(state * f, cs), state, f, device),
            c_im: param2(rng.normals(state * f, cs), state, f, device),
            d: param1(rng.normals(f, 1.0), device),
            state,
        }
    }

    /// The diagonal `λ` as `(re, im)`.
    pub fn lambda(&self) -> (Tensor<1>, Tensor<1>) {
        let mag = self.nu_log.val().exp().neg().exp();
        let phase = self.theta_log.val().exp();
        (mag.clone() * phase.clone().cos(), mag * phase.sin())
    }

    /// Zero state.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.state], device);
        Carry::Leaf(vec![z.clone(), z])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let gamma = self.gamma_log.val().exp().unsqueeze_dim::<2>(0);
        let bu_re = matmul3(x.clone(), self.b_re.val() * gamma.clone());
        let bu_im = matmul3(x.clone(), self.b_im.val() * gamma);
        let h0 = (carry.leaves()[0].clone(), carry.leaves()[1].clone());
        let (hr, hi) = complex_diag_scan(self.lambda(), (bu_re, bu_im), start, h0);
        let y = complex_readout(&hr, &hi, self.c_re.val(), self.c_im.val())
            + x * self.d.val().unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0);
        let t = hr.dims()[0];
        let last = |h: Tensor<3>| super::scan::step_at(&h, t - 1);
        (y, Carry::Leaf(vec![last(hr), last(hi)]))
    }
}

/// `Re(C h)` for states `[T, B, P]` and `C = C_re + i C_im` stored `[P, F]`.
pub fn complex_readout(
    hr: &Tensor<3>,
    hi: &Tensor<3>,
    c_re: Tensor<2>,
    c_im: Tensor<2>,
) -> Tensor<3> {
    matmul3(hr.clone(), c_re) - matmul3(hi.clone(), c_im)
}
