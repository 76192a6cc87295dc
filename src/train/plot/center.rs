//! The line and band drawn for several runs of one configuration at one step: the mean or the
//! interquartile mean, with a ± std, min–max or 95 % bootstrap confidence band.

use super::Band;
use crate::stats::{self, Bootstrap};

/// Statistic drawn as the line of a configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Center {
    /// Mean across runs.
    #[default]
    Mean,
    /// Interquartile mean across runs (25 % trimmed mean).
    Iqm,
}

impl Center {
    /// Legend name.
    pub fn name(self) -> &'static str {
        match self {
            Center::Mean => "mean",
            Center::Iqm => "IQM",
        }
    }

    fn stat(self) -> fn(&[f64]) -> f64 {
        match self {
            Center::Mean => stats::mean,
            Center::Iqm => stats::iqm,
        }
    }
}

/// Bootstrap resamples per plotted step (the band only needs to be smooth, not exact).
const PLOT_REPS: usize = 1000;

/// `(line, low, high)` of the values of several runs at one step.
pub fn point(v: &[f64], band: Band, center: Center) -> (f64, f64, f64) {
    let line = center.stat()(v);
    match band {
        Band::Std => {
            let m = stats::mean(v);
            let sd = (v.iter().map(|y| (y - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            (line, line - sd, line + sd)
        }
        Band::MinMax => (
            line,
            v.iter().copied().fold(f64::INFINITY, f64::min),
            v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        ),
        Band::Ci => {
            let boot = Bootstrap {
                reps: PLOT_REPS,
                ..Bootstrap::default()
            };
            let e = stats::stratified_bootstrap(&[v.to_vec()], center.stat(), boot);
            (line, e.lo, e.hi)
        }
    }
}
