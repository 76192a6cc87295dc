//! Helpers shared by the catalogue blocks: per-step slicing, parameters from values, and the
//! resettable complex diagonal recurrence `h_t = λ ⊙ h_{t−1} + b_t` on real/imaginary pairs.

use burn::module::Param;
use burn::prelude::*;

use super::carry::reset_rows;

/// Per-timestep start flags `[B]` of step `t` from `[T, B]`.
pub fn start_at(start: &Tensor<2>, t: usize) -> Tensor<1> {
    let b = start.dims()[1];
    start.clone().narrow(0, t, 1).reshape([b])
}

/// Row `t` of a `[T, B, F]` tensor as `[B, F]`.
pub fn step_at(x: &Tensor<3>, t: usize) -> Tensor<2> {
    let [_, b, f] = x.dims();
    x.clone().narrow(0, t, 1).reshape([b, f])
}

/// A trainable rank-1 parameter from host values.
pub fn param1(v: Vec<f32>, device: &Device) -> Param<Tensor<1>> {
    let n = v.len();
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [n]), device))
}

/// A trainable rank-2 parameter from host values (row-major `[r, c]`).
pub fn param2(v: Vec<f32>, r: usize, c: usize, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(v, [r, c]), device))
}

/// `x @ w` for `x: [T, B, F]` and `w: [F, G]`, giving `[T, B, G]`.
pub fn matmul3(x: Tensor<3>, w: Tensor<2>) -> Tensor<3> {
    let [t, b, f] = x.dims();
    let g = w.dims()[1];
    x.reshape([t * b, f]).matmul(w).reshape([t, b, g])
}

/// Resettable complex diagonal scan: `h ← 0` where `start`, then `h ← λ ⊙ h + b_t`.
///
/// `lam_*: [P]`, `b_*: [T, B, P]`, `h_*: [B, P]`; returns every state `([T, B, P], [T, B, P])`.
/// One fused op on Flex ([`super::fused::cscan`]), per-step ops elsewhere.
pub fn complex_diag_scan(
    lam: (Tensor<1>, Tensor<1>),
    b: (Tensor<3>, Tensor<3>),
    start: &Tensor<2>,
    h: (Tensor<2>, Tensor<2>),
) -> (Tensor<3>, Tensor<3>) {
    match super::fused::cscan::complex_scan(&lam, &b, &h, start) {
        Some(out) => out,
        None => complex_diag_scan_reference(lam, b, start, h),
    }
}

/// [`complex_diag_scan`] as per-step burn ops (fallback and test oracle).
pub fn complex_diag_scan_reference(
    lam: (Tensor<1>, Tensor<1>),
    b: (Tensor<3>, Tensor<3>),
    start: &Tensor<2>,
    h: (Tensor<2>, Tensor<2>),
) -> (Tensor<3>, Tensor<3>) {
    let (lr, li) = (lam.0.unsqueeze_dim::<2>(0), lam.1.unsqueeze_dim::<2>(0));
    let (mut hr, mut hi) = h;
    let t_len = b.0.dims()[0];
    let (mut outr, mut outi) = (Vec::with_capacity(t_len), Vec::with_capacity(t_len));
    for t in 0..t_len {
        let s = start_at(start, t);
        hr = reset_rows(hr, &s, None);
        hi = reset_rows(hi, &s, None);
        let nr = lr.clone() * hr.clone() - li.clone() * hi.clone() + step_at(&b.0, t);
        let ni = lr.clone() * hi + li.clone() * hr + step_at(&b.1, t);
        hr = nr;
        hi = ni;
        outr.push(hr.clone());
        outi.push(hi.clone());
    }
    (Tensor::stack(outr, 0), Tensor::stack(outi, 0))
}

/// Host-side normal samples from a seeded generator (deterministic initialisation).
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
    /// `n` normal samples with standard deviation `std`, as f32.
    pub fn normals(&mut self, n: usize, std: f64) -> Vec<f32> {
        (0..n).map(|_| (self.normal() * std) as f32).collect()
    }
}

impl Rng {
    /// A generator seeded from the device's random stream (so `Device::seed` fixes it).
    pub fn from_device(device: &Device) -> Self {
        let v: Vec<f32> = Tensor::<1>::random([2], burn::tensor::Distribution::Default, device)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        let bits = v
            .iter()
            .fold(0u64, |acc, x| (acc << 32) | x.to_bits() as u64);
        Rng::new(bits)
    }
}
