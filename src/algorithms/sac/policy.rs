//! SAC policies: the tanh-squashed Gaussian (continuous) and the categorical (discrete), on the
//! host for acting and as tensors for the losses.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::Rng;

use crate::algorithms::common::{normal, sample_categorical, tensor};

/// Bounds of the state-independent log standard deviation.
pub const LOG_STD_RANGE: (f32, f32) = (-5.0, 2.0);

/// Affine map of squashed actions `a ∈ [-1, 1]` to the environment's box.
#[derive(Clone, Debug)]
pub struct Squash {
    /// Lower bounds.
    pub low: Vec<f32>,
    /// Upper bounds.
    pub high: Vec<f32>,
}

impl Squash {
    /// Half-widths of the box (the Jacobian of the affine map).
    pub fn scale(&self) -> Vec<f32> {
        self.low
            .iter()
            .zip(&self.high)
            .map(|(l, h)| 0.5 * (h - l))
            .collect()
    }

    /// Environment action of squashed action `a` in dimension `d`.
    pub fn to_env(&self, a: f32, d: usize) -> f32 {
        (self.low[d] + (a + 1.0) * 0.5 * (self.high[d] - self.low[d]))
            .clamp(self.low[d], self.high[d])
    }
}

/// Sample squashed actions `tanh(μ + σ·ε)` for `rows` rows of `dim` means.
pub fn sample_squashed(mean: &[f32], log_std: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let dim = log_std.len();
    mean.iter()
        .enumerate()
        .map(|(i, m)| {
            let ls = log_std[i % dim].clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1);
            (m + ls.exp() * normal(rng)).tanh()
        })
        .collect()
}

/// Sample one categorical action per row of logits.
pub fn sample_discrete(logits: &[f32], n: usize, rng: &mut impl Rng) -> Vec<f32> {
    logits
        .chunks(n)
        .map(|row| sample_categorical(row, rng).0 as f32)
        .collect()
}

/// Reparameterised squashed sample and its log-probability.
///
/// `mean`: `[T, B, A]`; `log_std`: `[A]`; `eps`: standard normal `[T, B, A]` (host-drawn);
/// `scale`: the box half-widths. Returns (`a ∈ (-1, 1)` `[T, B, A]`, `log π(a)` `[T, B]`), with
/// the tanh and box-scaling corrections `−Σ ln(scale·(1 − a²) + 1e-6)`.
pub fn squashed_sample(
    mean: Tensor<3>,
    log_std: Tensor<1>,
    eps: Tensor<3>,
    scale: &[f32],
) -> (Tensor<3>, Tensor<2>) {
    let [t, b, a] = mean.dims();
    let dev = mean.device();
    let ls = log_std
        .clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1)
        .reshape([1, 1, a]);
    let u = mean + ls.clone().exp() * eps.clone();
    let act = u.tanh();
    let sc = tensor(scale.to_vec(), [1, 1, a], &dev);
    let corr = (act.clone().square().neg().add_scalar(1.0) * sc)
        .add_scalar(1e-6)
        .log();
    let half_ln_2pi = 0.5 * (2.0 * std::f32::consts::PI).ln();
    let lp = eps.square().mul_scalar(-0.5) - ls - corr;
    let lp = lp.sub_scalar(half_ln_2pi).sum_dim(2).reshape([t, b]);
    (act, lp)
}

/// Probabilities and log-probabilities of logits `[T, B, A]`.
pub fn categorical(logits: Tensor<3>) -> (Tensor<3>, Tensor<3>) {
    let lp = log_softmax(logits, 2);
    (lp.clone().exp(), lp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squashed_log_prob_matches_the_change_of_variables() {
        let dev = Device::flex();
        let mean = tensor(vec![0.3, -0.2], [1, 1, 2], &dev);
        let log_std = tensor(vec![-0.5, 0.1], [2], &dev);
        let eps = tensor(vec![0.7, -1.2], [1, 1, 2], &dev);
        let (a, lp) = squashed_sample(mean, log_std, eps, &[2.0, 1.0]);
        let a = crate::algorithms::common::host(a);
        let lp = crate::algorithms::common::host(lp)[0];
        let mut want = 0.0;
        for (d, (m, ls, e, s)) in [(0.3f32, -0.5f32, 0.7f32, 2.0f32), (-0.2, 0.1, -1.2, 1.0)]
            .into_iter()
            .enumerate()
        {
            let u = m + ls.exp() * e;
            assert!((a[d] - u.tanh()).abs() < 1e-6);
            let normal_lp = -0.5 * e * e - ls - 0.5 * (2.0 * std::f32::consts::PI).ln();
            want += normal_lp - (s * (1.0 - u.tanh().powi(2)) + 1e-6).ln();
        }
        assert!((lp - want).abs() < 1e-5, "{lp} vs {want}");
    }
}
