//! Aggregate statistics over runs: mean, interquartile mean (IQM) and percentile confidence
//! intervals from a seeded stratified bootstrap, following Agarwal et al., "Deep Reinforcement
//! Learning at the Edge of the Statistical Precipice" (NeurIPS 2021).
//!
//! Conventions (those of `rliable`/`scipy`): the IQM is the 25 % trimmed mean, cutting
//! `floor(n / 4)` scores from each end of the sorted scores; a stratified bootstrap resamples
//! with replacement within each stratum (task) and keeps the stratum sizes; the interval is the
//! percentile interval, with quantiles interpolated linearly between order statistics.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bootstrap resamples used by default.
pub const DEFAULT_REPS: usize = 2000;

/// Seed of the bootstrap RNG used by default (fixed, so reports are reproducible).
pub const DEFAULT_SEED: u64 = 0x5EED_2021;

/// Arithmetic mean; NaN for no scores.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Interquartile mean: the mean of the sorted scores less `floor(n / 4)` at each end; NaN for
/// no scores.
pub fn iqm(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let cut = v.len() / 4;
    mean(&v[cut..v.len() - cut])
}

/// Quantile `q` in [0, 1] of sorted values, interpolated linearly between order statistics.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    match sorted.get(i + 1) {
        Some(next) if frac > 0.0 => sorted[i] + (next - sorted[i]) * frac,
        _ => sorted[i],
    }
}

/// A point estimate with a confidence interval.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// The statistic on the observed scores.
    pub point: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
}

/// Options of the bootstrap.
#[derive(Clone, Copy, Debug)]
pub struct Bootstrap {
    /// Number of resamples.
    pub reps: usize,
    /// Seed of the RNG.
    pub seed: u64,
    /// Coverage of the interval (0.95 for 95 %).
    pub confidence: f64,
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            reps: DEFAULT_REPS,
            seed: DEFAULT_SEED,
            confidence: 0.95,
        }
    }
}

/// The statistic `stat` of all scores (strata pooled) with its stratified-bootstrap percentile
/// interval: each resample draws, within every stratum, as many scores as the stratum holds,
/// with replacement. Empty strata are ignored; no scores at all gives NaNs.
pub fn stratified_bootstrap(
    strata: &[Vec<f64>],
    stat: fn(&[f64]) -> f64,
    opts: Bootstrap,
) -> Estimate {
    let pooled: Vec<f64> = strata.iter().flatten().copied().collect();
    let point = stat(&pooled);
    if pooled.is_empty() || opts.reps == 0 {
        return Estimate {
            point,
            lo: f64::NAN,
            hi: f64::NAN,
        };
    }
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut sample = Vec::with_capacity(pooled.len());
    let mut stats = Vec::with_capacity(opts.reps);
    for _ in 0..opts.reps {
        sample.clear();
        for s in strata.iter().filter(|s| !s.is_empty()) {
            for _ in 0..s.len() {
                sample.push(s[rng.random_range(0..s.len())]);
            }
        }
        stats.push(stat(&sample));
    }
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - opts.confidence.clamp(0.0, 1.0)) / 2.0;
    Estimate {
        point,
        lo: quantile_sorted(&stats, alpha),
        hi: quantile_sorted(&stats, 1.0 - alpha),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iqm_trims_a_quarter_at_each_end() {
        // n = 8: drop the 2 smallest and 2 largest
        let xs = [100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, -50.0];
        assert_eq!(iqm(&xs), (2.0 + 3.0 + 4.0 + 5.0) / 4.0);
        // n = 3: nothing to trim
        assert_eq!(iqm(&[1.0, 2.0, 6.0]), 3.0);
        assert!(iqm(&[]).is_nan());
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile_sorted(&s, 0.5), 20.0);
        assert_eq!(quantile_sorted(&s, 0.125), 5.0);
        assert_eq!(quantile_sorted(&s, 1.0), 40.0);
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_point() {
        let xs = vec![1.0, 4.0, 2.0, 8.0, 5.0, 7.0];
        let a = stratified_bootstrap(std::slice::from_ref(&xs), mean, Bootstrap::default());
        let b = stratified_bootstrap(&[xs], mean, Bootstrap::default());
        assert_eq!(a, b);
        assert!(a.lo < a.point && a.point < a.hi, "{a:?}");
        let c = stratified_bootstrap(&[vec![3.0; 5]], iqm, Bootstrap::default());
        assert_eq!((c.point, c.lo, c.hi), (3.0, 3.0, 3.0));
    }
}
