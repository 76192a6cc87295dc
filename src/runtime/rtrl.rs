//! `rtrl(x)`: real-time recurrent learning for the diagonal complex recurrences `lru` and `rtu`.
//!
//! Both are `h_t = λ ⊙ h_{t−1} + γ ⊙ (x_t B_re + i x_t B_im)` with `λ = exp(−e^ν + i e^θ)` per
//! unit (for `rtu`, `B` is `W` and `γ = √(1 − |λ|²)`; for `lru`, `γ = e^{γ_log}`). Because the
//! recurrence is diagonal, `∂h_j/∂p` is non-zero only for the parameters of unit `j`, so one complex
//! sensitivity per recurrent parameter is carried and updated forward in time:
//!
//! * `s_ν ← λ s_ν + (∂λ/∂ν) h_{t−1} + (∂γ/∂ν) u_t` with `∂λ/∂ν = −e^ν λ`,
//!   `∂γ/∂ν = |λ|² e^ν / γ` (rtu; 0 for lru), `u_t = x_t B_re + i x_t B_im`;
//! * `s_θ ← λ s_θ + (i e^θ λ) h_{t−1}`; `s_γ ← λ s_γ + γ u_t` (lru);
//! * `s_{B_re}[k] ← λ s_{B_re}[k] + γ x_t[k]`, and `s_{B_im} = i s_{B_re}`.
//!
//! Sensitivities are zeroed with the state at episode starts. The state itself is computed from
//! detached parameters and inputs, so no gradient flows through time; the output carries the
//! "phantom" terms `Σ_p s_p (p − sg(p))` (zero in value) whose gradient is exactly the RTRL
//! gradient `Σ_t (∂L/∂h_t) · dh_t/dp`, plus the one-step input path `γ (x_t B) − sg(·)`, so inputs
//! receive the immediate (truncated) gradient, as in RTRL. The readout (`lru`'s `C`, `D`) is
//! ordinary. Carry: `(carry of x, s)`, `s: [B, 2·(recurrent parameters)]` packed as
//! `[s_ν | s_θ | s_γ (lru) | s_{B_re} | s_{B_im}]`, each real parts then imaginary parts.

use burn::prelude::*;
use burn::tensor::activation::relu;

use super::carry::Carry;
use super::layer::Layer;
use super::lru::{Lru, complex_readout};
use super::scan::{start_at, step_at};

/// The RTRL wrapper.
#[derive(Module, Debug)]
pub struct Rtrl {
    /// The wrapped `lru` or `rtu` (exactly one element).
    pub inner: Vec<Layer>,
}

/// A complex pair `(re, im)`.
type C2 = (Tensor<2>, Tensor<2>);
/// A complex pair of `[B, F, H]` tensors.
type C3 = (Tensor<3>, Tensor<3>);

fn cmul(a: &C2, b: &C2) -> C2 {
    (
        a.0.clone() * b.0.clone() - a.1.clone() * b.1.clone(),
        a.0.clone() * b.1.clone() + a.1.clone() * b.0.clone(),
    )
}

fn cadd(a: C2, b: C2) -> C2 {
    (a.0 + b.0, a.1 + b.1)
}

fn scale(a: &C2, k: &Tensor<2>) -> C2 {
    (a.0.clone() * k.clone(), a.1.clone() * k.clone())
}

/// The recurrent parameters of the wrapped cell, live (tracked) and their constants.
struct Cell<'a> {
    nu: Tensor<1>,
    theta: Tensor<1>,
    gamma_log: Option<Tensor<1>>,
    b_re: Tensor<2>,
    b_im: Tensor<2>,
    lru: Option<&'a Lru>,
}

impl Rtrl {
    fn cell(&self) -> Cell<'_> {
        match &self.inner[0] {
            Layer::Lru(m) => Cell {
                nu: m.nu_log.val(),
                theta: m.theta_log.val(),
                gamma_log: Some(m.gamma_log.val()),
                b_re: m.b_re.val(),
                b_im: m.b_im.val(),
                lru: Some(m),
            },
            Layer::Rtu(m) => Cell {
                nu: m.nu_log.val(),
                theta: m.theta_log.val(),
                gamma_log: None,
                b_re: m.w_re.val(),
                b_im: m.w_im.val(),
                lru: None,
            },
            _ => unreachable!("the checker admits rtrl only around lru and rtu (MX0307)"),
        }
    }

    fn sizes(&self) -> (usize, usize, bool) {
        let c = self.cell();
        let [f, h] = c.b_re.dims();
        (f, h, c.lru.is_some())
    }

    /// Floats of sensitivities per environment.
    fn sens_len(&self) -> usize {
        let (f, h, lru) = self.sizes();
        2 * ((if lru { 3 } else { 2 }) * h + 2 * f * h)
    }

    /// The wrapped cell's zero state and zero sensitivities.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let inner = match &self.inner[0] {
            Layer::Lru(m) => m.init_carry(batch, device),
            Layer::Rtu(m) => m.init_carry(batch, device),
            _ => unreachable!("the checker admits rtrl only around lru and rtu (MX0307)"),
        };
        Carry::Tuple(vec![
            inner,
            Carry::Leaf(vec![Tensor::zeros([batch, self.sens_len()], device)]),
        ])
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let [t_len, b, _] = x.dims();
        let (f, h, is_lru) = self.sizes();
        let cell = self.cell();
        let sg1 = |t: &Tensor<1>| t.clone().detach().unsqueeze_dim::<2>(0); // [1, H]
        // constants of the recurrence
        let e_nu = sg1(&cell.nu).exp();
        let r = e_nu.clone().neg().exp();
        let th = sg1(&cell.theta).exp();
        let lam: C2 = (r.clone() * th.clone().cos(), r.clone() * th.clone().sin());
        let dlam_nu = scale(&lam, &e_nu.clone().neg());
        let dlam_th: C2 = (lam.1.clone().neg() * th.clone(), lam.0.clone() * th);
        let gamma = match &cell.gamma_log {
            Some(g) => sg1(g).exp(),
            None => r
                .clone()
                .powi_scalar(2)
                .neg()
                .add_scalar(1.0)
                .clamp_min(1e-12)
                .sqrt(),
        };
        let dgamma_nu = (!is_lru).then(|| r.powi_scalar(2) * e_nu / gamma.clone());
        let lam3: C3 = (
            lam.0.clone().unsqueeze_dim::<3>(1),
            lam.1.clone().unsqueeze_dim::<3>(1),
        );
        let gamma3 = gamma.clone().unsqueeze_dim::<3>(1); // [1, 1, H]
        let (b_re_d, b_im_d) = (cell.b_re.clone().detach(), cell.b_im.clone().detach());
        let xd = x.clone().detach();
        // phantom deltas (zero in value, gradient 1 to the live parameter)
        let delta1 = |p: &Tensor<1>| (p.clone() - p.clone().detach()).unsqueeze_dim::<2>(0);
        let (d_nu, d_th) = (delta1(&cell.nu), delta1(&cell.theta));
        let d_g = cell.gamma_log.as_ref().map(delta1);
        let d_bre = (cell.b_re.clone() - b_re_d.clone()).unsqueeze_dim::<3>(0); // [1, F, H]
        let d_bim = (cell.b_im.clone() - b_im_d.clone()).unsqueeze_dim::<3>(0);
        let w_in = (
            b_re_d.clone() * gamma.clone(),
            b_im_d.clone() * gamma.clone(),
        );
        // carry
        let inner = carry.child(0);
        let mut hs: C2 = (inner.leaves()[0].clone(), inner.leaves()[1].clone());
        let sens = carry.child(1).leaves()[0].clone();
        let take2 = |at: usize| -> C2 {
            (
                sens.clone().narrow(1, at, h),
                sens.clone().narrow(1, at + h, h),
            )
        };
        let mut s_nu = take2(0);
        let mut s_th = take2(2 * h);
        let mut s_g = is_lru.then(|| take2(4 * h));
        let at_b = if is_lru { 6 * h } else { 4 * h };
        let mut s_b: C3 = (
            sens.clone().narrow(1, at_b, f * h).reshape([b, f, h]),
            sens.clone()
                .narrow(1, at_b + f * h, f * h)
                .reshape([b, f, h]),
        );
        let (mut out_re, mut out_im) = (Vec::with_capacity(t_len), Vec::with_capacity(t_len));
        for t in 0..t_len {
            let keep = start_at(start, t)
                .neg()
                .add_scalar(1.0)
                .unsqueeze_dim::<2>(1); // [B, 1]
            let keep3 = keep.clone().unsqueeze_dim::<3>(2);
            let hp = scale(&hs, &keep);
            s_nu = scale(&s_nu, &keep);
            s_th = scale(&s_th, &keep);
            s_g = s_g.map(|s| scale(&s, &keep));
            s_b = (s_b.0 * keep3.clone(), s_b.1 * keep3);
            let xt = step_at(&xd, t); // [B, F]
            let u: C2 = (
                xt.clone().matmul(b_re_d.clone()),
                xt.clone().matmul(b_im_d.clone()),
            );
            let gu = scale(&u, &gamma);
            let mut nu_drive = cmul(&dlam_nu, &hp);
            if let Some(dg) = &dgamma_nu {
                nu_drive = cadd(nu_drive, scale(&u, dg));
            }
            s_nu = cadd(cmul(&lam, &s_nu), nu_drive);
            s_th = cadd(cmul(&lam, &s_th), cmul(&dlam_th, &hp));
            s_g = s_g.map(|s| cadd(cmul(&lam, &s), gu.clone()));
            let drive = xt.unsqueeze_dim::<3>(2) * gamma3.clone(); // [B, F, H] real
            s_b = (
                lam3.0.clone() * s_b.0.clone() - lam3.1.clone() * s_b.1.clone() + drive,
                lam3.0.clone() * s_b.1.clone() + lam3.1.clone() * s_b.0.clone(),
            );
            hs = cadd(cmul(&lam, &hp), gu);
            // value h_t; gradient: RTRL for the parameters, one step for the input
            let xt_live = step_at(&x, t);
            let in_re = xt_live.clone().matmul(w_in.0.clone());
            let in_im = xt_live.matmul(w_in.1.clone());
            let sum_f = |a: Tensor<3>| -> Tensor<2> { a.sum_dim(1).reshape([b, h]) };
            let mut o_re = hs.0.clone()
                + s_nu.0.clone() * d_nu.clone()
                + s_th.0.clone() * d_th.clone()
                + sum_f(s_b.0.clone() * d_bre.clone() - s_b.1.clone() * d_bim.clone())
                + (in_re.clone() - in_re.detach());
            let mut o_im = hs.1.clone()
                + s_nu.1.clone() * d_nu.clone()
                + s_th.1.clone() * d_th.clone()
                + sum_f(s_b.1.clone() * d_bre.clone() + s_b.0.clone() * d_bim.clone())
                + (in_im.clone() - in_im.detach());
            if let (Some(s), Some(dg)) = (&s_g, &d_g) {
                o_re = o_re + s.0.clone() * dg.clone();
                o_im = o_im + s.1.clone() * dg.clone();
            }
            out_re.push(o_re);
            out_im.push(o_im);
        }
        let (hr, hi) = (Tensor::stack(out_re, 0), Tensor::stack(out_im, 0));
        let y = match cell.lru {
            Some(m) => {
                complex_readout(&hr, &hi, m.c_re.val(), m.c_im.val())
                    + x * m.d.val().unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0)
            }
            None => Tensor::cat(vec![relu(hr), relu(hi)], 2),
        };
        let mut packed = vec![s_nu.0, s_nu.1, s_th.0, s_th.1];
        if let Some(s) = s_g {
            packed.extend([s.0, s.1]);
        }
        let (sb_re, sb_im) = (s_b.0.reshape([b, f * h]), s_b.1.reshape([b, f * h]));
        // s_{B_im} = i s_{B_re}
        packed.extend([sb_re.clone(), sb_im.clone(), sb_im.neg(), sb_re]);
        let sens = Tensor::cat(packed, 1).detach();
        let inner = Carry::Leaf(vec![hs.0.detach(), hs.1.detach()]);
        (y, Carry::Tuple(vec![inner, Carry::Leaf(vec![sens])]))
    }
}
