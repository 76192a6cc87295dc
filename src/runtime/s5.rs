//! `s5(state, discretization)`: simplified state-space layer (Smith et al. 2023), all `P`
//! eigenvalues kept (memorax, no conjugate symmetry), complex state as real/imag pairs.
//!
//! Continuous `x' = Λx + B̃u`, `y = Re(C̃x) + D u`; ZOH `Λ̄ = exp(ΛΔ)`, `B̄ = (Λ̄ − 1)/Λ ⊙ B̃`, or
//! bilinear `Λ̄ = (1 + ΔΛ/2)/(1 − ΔΛ/2)`, `B̄ = Δ/(1 − ΔΛ/2) ⊙ B̃`; `h_t = Λ̄ h_{t−1} + B̄ u_t`,
//! zeroed before a start step. `Re Λ` is clipped to `≤ −1e−4` in the forward pass.
//! Initialisation: HiPPO-N (normal part of HiPPO-LegS, [`hippo_n`]): `Λ = −½ + i·eig`,
//! `B̃ = V⁻¹B` with `B ~ N(0, 1/F)` (lecun normal), `C̃ = C V` with `C ~ N(0, 1/P)`,
//! `D ~ N(0, 1)`, `log Δ ~ U[log 0.001, log 0.1]` per state. Carry: `re: [B, P]`, `im: [B, P]`.

use burn::module::{Module, Param};
use burn::prelude::*;

use super::carry::Carry;
use super::lru::complex_readout;
use super::scan::{Rng, complex_diag_scan, matmul3, param1, param2, step_at};

/// HiPPO-LegS matrix `A` (`P × P`, row-major).
pub fn legs(p: usize) -> Vec<Vec<f64>> {
    let mut a = vec![vec![0.0; p]; p];
    for (n, row) in a.iter_mut().enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            let (nf, kf) = (n as f64, k as f64);
            *v = if n > k {
                -((2.0 * nf + 1.0) * (2.0 * kf + 1.0)).sqrt()
            } else if n == k {
                -(nf + 1.0)
            } else {
                0.0
            };
        }
    }
    a
}

/// Eigen-decomposition of a real symmetric matrix by cyclic Jacobi: (values, column vectors).
#[allow(clippy::needless_range_loop)]
fn jacobi(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for _ in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i][j] * a[i][j])
            .sum();
        if off < 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (x, y) = (row[p], row[q]);
                    row[p] = c * x - s * y;
                    row[q] = s * x + c * y;
                }
                for k in 0..n {
                    let (x, y) = (a[p][k], a[q][k]);
                    a[p][k] = c * x - s * y;
                    a[q][k] = s * x + c * y;
                }
                for row in v.iter_mut() {
                    let (x, y) = (row[p], row[q]);
                    row[p] = c * x - s * y;
                    row[q] = s * x + c * y;
                }
            }
        }
    }
    let vals = (0..n).map(|i| a[i][i]).collect();
    let cols = (0..n).map(|j| (0..n).map(|i| v[i][j]).collect()).collect();
    (vals, cols)
}

/// A complex eigenpair: eigenvalue `(re, im)` and unit eigenvector `(re parts, im parts)`.
pub type Eigen = ((f64, f64), (Vec<f64>, Vec<f64>));

/// HiPPO-N: eigenpairs of `S = A + p pᵀ`, `p_n = √(n + ½)`, sorted by imaginary part.
///
/// `S = −½ I + K` with `K` skew-symmetric; the eigenvectors of the Hermitian `iK` come from the
/// real symmetric `[[0, −K], [K, 0]]` (each eigenvalue twice; one vector of each pair kept).
pub fn hippo_n(p: usize) -> Vec<Eigen> {
    let a = legs(p);
    let pv: Vec<f64> = (0..p).map(|n| (n as f64 + 0.5).sqrt()).collect();
    let k: Vec<Vec<f64>> = (0..p)
        .map(|i| {
            (0..p)
                .map(|j| a[i][j] + pv[i] * pv[j] + if i == j { 0.5 } else { 0.0 })
                .collect()
        })
        .collect();
    let mut m = vec![vec![0.0; 2 * p]; 2 * p];
    for i in 0..p {
        for j in 0..p {
            m[i][p + j] = -k[i][j];
            m[p + i][j] = k[i][j];
        }
    }
    let (vals, vecs) = jacobi(m);
    let mut idx: Vec<usize> = (0..2 * p).collect();
    idx.sort_by(|&x, &y| vals[x].total_cmp(&vals[y]));
    let mut out: Vec<Eigen> = idx
        .chunks(2)
        .map(|pair| {
            let (mu, v) = (vals[pair[0]], &vecs[pair[0]]);
            // iK v = μ v  ⇒  S v = (−½ − iμ) v
            ((-0.5, -mu), (v[..p].to_vec(), v[p..].to_vec()))
        })
        .collect();
    out.sort_by(|x, y| x.0.1.total_cmp(&y.0.1));
    out
}

/// Complex division `a / b`.
fn cdiv(a: (Tensor<1>, Tensor<1>), b: (Tensor<1>, Tensor<1>)) -> (Tensor<1>, Tensor<1>) {
    let den = b.0.clone().powi_scalar(2) + b.1.clone().powi_scalar(2);
    let re = a.0.clone() * b.0.clone() + a.1.clone() * b.1.clone();
    let im = a.1 * b.0 - a.0 * b.1;
    (re / den.clone(), im / den)
}

/// Discretise `Λ` with steps `Δ`: `(Λ̄, coefficient of B̃)` as `((re, im), (re, im))`.
pub fn discretize(
    lam: (Tensor<1>, Tensor<1>),
    delta: Tensor<1>,
    method: &str,
) -> ((Tensor<1>, Tensor<1>), (Tensor<1>, Tensor<1>)) {
    let (lr, li) = lam;
    if method == "bilinear" {
        let half = delta.clone().mul_scalar(0.5);
        let den = (
            (lr.clone() * half.clone()).neg().add_scalar(1.0),
            (li.clone() * half.clone()).neg(),
        );
        let num = ((lr * half.clone()).add_scalar(1.0), li * half);
        let lbar = cdiv(num, den.clone());
        let coef = cdiv((delta.clone(), delta.zeros_like()), den);
        (lbar, coef)
    } else {
        let mag = (lr.clone() * delta.clone()).exp();
        let ph = li.clone() * delta;
        let lbar = (mag.clone() * ph.clone().cos(), mag * ph.sin());
        let coef = cdiv((lbar.0.clone().sub_scalar(1.0), lbar.1.clone()), (lr, li));
        (lbar, coef)
    }
}

/// S5 layer.
#[derive(Module, Debug)]
pub struct S5 {
    /// `Re Λ` (P).
    pub lambda_re: Param<Tensor<1>>,
    /// `Im Λ` (P).
    pub lambda_im: Param<Tensor<1>>,
    /// `Re B̃`, stored `[F, P]`.
    pub b_re: Param<Tensor<2>>,
    /// `Im B̃`, stored `[F, P]`.
    pub b_im: Param<Tensor<2>>,
    /// `Re C̃`, stored `[P, F]`.
    pub c_re: Param<Tensor<2>>,
    /// `Im C̃`, stored `[P, F]`.
    pub c_im: Param<Tensor<2>>,
    /// Skip D (F).
    pub d: Param<Tensor<1>>,
    /// `log Δ` (P).
    pub log_step: Param<Tensor<1>>,
    /// State size P.
    pub state: usize,
    /// `zoh` or `bilinear`.
    pub discretization: String,
}

impl S5 {
    /// An S5 layer on `f` features with `state` complex states.
    pub fn new(f: usize, state: usize, discretization: &str, device: &Device) -> Self {
        let mut rng = Rng::from_device(device);
        let eig = hippo_n(state);
        let b: Vec<f32> = rng.normals(state * f, (1.0 / f as f64).sqrt()); // [P, F]
        let c: Vec<f32> = rng.normals(f * state, (1.0 / state as f64).sqrt()); // [F, P]
        let (mut bre, mut bim) = (vec![0f32; f * state], vec![0f32; f * state]);
        let (mut cre, mut cim) = (vec![0f32; state * f], vec![0f32; state * f]);
        for (j, (_, (va, vb))) in eig.iter().enumerate() {
            for fi in 0..f {
                // B̃ = Vᴴ B; C̃ = C V
                let (mut sr, mut si, mut tr, mut ti) = (0.0, 0.0, 0.0, 0.0);
                for n in 0..state {
                    sr += va[n] * b[n * f + fi] as f64;
                    si -= vb[n] * b[n * f + fi] as f64;
                    tr += c[fi * state + n] as f64 * va[n];
                    ti += c[fi * state + n] as f64 * vb[n];
                }
                bre[fi * state + j] = sr as f32;
                bim[fi * state + j] = si as f32;
                cre[j * f + fi] = tr as f32;
                cim[j * f + fi] = ti as f32;
            }
        }
        let (lo, hi) = (0.001f64.ln(), 0.1f64.ln());
        let steps = (0..state)
            .map(|_| (lo + (hi - lo) * rng.uniform()) as f32)
            .collect();
        S5 {
            lambda_re: param1(eig.iter().map(|e| e.0.0 as f32).collect(), device),
            lambda_im: param1(eig.iter().map(|e| e.0.1 as f32).collect(), device),
            b_re: param2(bre, f, state, device),
            b_im: param2(bim, f, state, device),
            c_re: param2(cre, state, f, device),
            c_im: param2(cim, state, f, device),
            d: param1(rng.normals(f, 1.0), device),
            log_step: param1(steps, device),
            state,
            discretization: discretization.to_string(),
        }
    }

    /// Zero state.
    pub fn init_carry(&self, batch: usize, device: &Device) -> Carry {
        let z = Tensor::zeros([batch, self.state], device);
        Carry::Leaf(vec![z.clone(), z])
    }

    /// Discretised `(Λ̄, B̄_re [F, P], B̄_im [F, P])`.
    pub fn discrete(&self) -> ((Tensor<1>, Tensor<1>), Tensor<2>, Tensor<2>) {
        let lam = (self.lambda_re.val().clamp_max(-1e-4), self.lambda_im.val());
        let (lbar, (cr, ci)) = discretize(lam, self.log_step.val().exp(), &self.discretization);
        let (cr, ci) = (cr.unsqueeze_dim::<2>(0), ci.unsqueeze_dim::<2>(0));
        let (br, bi) = (self.b_re.val(), self.b_im.val());
        let bbar_re = br.clone() * cr.clone() - bi.clone() * ci.clone();
        let bbar_im = bi * cr + br * ci;
        (lbar, bbar_re, bbar_im)
    }

    /// Run over `[T, B, F]`.
    pub fn forward(&self, x: Tensor<3>, start: &Tensor<2>, carry: Carry) -> (Tensor<3>, Carry) {
        let (lbar, br, bi) = self.discrete();
        let bu = (matmul3(x.clone(), br), matmul3(x.clone(), bi));
        let h0 = (carry.leaves()[0].clone(), carry.leaves()[1].clone());
        let (hr, hi) = complex_diag_scan(lbar, bu, start, h0);
        let y = complex_readout(&hr, &hi, self.c_re.val(), self.c_im.val())
            + x * self.d.val().unsqueeze_dim::<2>(0).unsqueeze_dim::<3>(0);
        let t = hr.dims()[0];
        (
            y,
            Carry::Leaf(vec![step_at(&hr, t - 1), step_at(&hi, t - 1)]),
        )
    }
}
