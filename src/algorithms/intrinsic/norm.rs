//! Running statistics for RND's observation and intrinsic-reward normalisation.

/// Running mean and variance per feature (parallel-update form of Chan et al.).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningMeanStd {
    /// Mean per feature.
    pub mean: Vec<f64>,
    /// Variance per feature.
    pub var: Vec<f64>,
    /// Number of samples seen (starts at a tiny epsilon, as in the RND code).
    pub count: f64,
}

impl RunningMeanStd {
    /// Statistics over `dim` features (mean 0, variance 1).
    pub fn new(dim: usize) -> Self {
        RunningMeanStd {
            mean: vec![0.0; dim],
            var: vec![1.0; dim],
            count: 1e-4,
        }
    }

    /// Merge a batch of rows (`rows.len()` must be a multiple of the feature count).
    pub fn update(&mut self, rows: &[f32]) {
        let d = self.mean.len();
        let n = rows.len() / d;
        if n == 0 {
            return;
        }
        let mut bm = vec![0.0f64; d];
        for r in rows.chunks(d) {
            for (m, &x) in bm.iter_mut().zip(r) {
                *m += x as f64;
            }
        }
        bm.iter_mut().for_each(|m| *m /= n as f64);
        let mut bv = vec![0.0f64; d];
        for r in rows.chunks(d) {
            for ((v, &x), m) in bv.iter_mut().zip(r).zip(&bm) {
                *v += (x as f64 - m).powi(2);
            }
        }
        bv.iter_mut().for_each(|v| *v /= n as f64);
        let (na, nb) = (self.count, n as f64);
        let tot = na + nb;
        for i in 0..d {
            let delta = bm[i] - self.mean[i];
            let m2 = self.var[i] * na + bv[i] * nb + delta * delta * na * nb / tot;
            self.mean[i] += delta * nb / tot;
            self.var[i] = m2 / tot;
        }
        self.count = tot;
    }

    /// `(x − mean) / std` clipped to `[−clip, clip]`, in place over rows.
    pub fn normalize(&self, rows: &mut [f32], clip: f32) {
        let d = self.mean.len();
        for r in rows.chunks_mut(d) {
            for ((x, m), v) in r.iter_mut().zip(&self.mean).zip(&self.var) {
                let s = (v.sqrt() + 1e-8) as f32;
                *x = ((*x - *m as f32) / s).clamp(-clip, clip);
            }
        }
    }
}

/// Discounted running sum of intrinsic rewards per environment; its variance scales the
/// intrinsic reward (RND's `RewardForwardFilter`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RewardScale {
    /// Discounted sums per environment.
    pub ems: Vec<f64>,
    /// Statistics of the discounted sums.
    pub stats: RunningMeanStd,
    /// Discount.
    pub gamma: f64,
}

impl RewardScale {
    /// For `n` environments with discount `gamma`.
    pub fn new(n: usize, gamma: f64) -> Self {
        RewardScale {
            ems: vec![0.0; n],
            stats: RunningMeanStd::new(1),
            gamma,
        }
    }

    /// Update from time-major rewards `[T, N]` and divide them by the running std.
    pub fn scale(&mut self, rewards: &mut [f32]) {
        let n = self.ems.len();
        let mut sums = Vec::with_capacity(rewards.len());
        for row in rewards.chunks(n) {
            for (e, &r) in self.ems.iter_mut().zip(row) {
                *e = *e * self.gamma + r as f64;
                sums.push(*e as f32);
            }
        }
        self.stats.update(&sums);
        let s = (self.stats.var[0].sqrt() + 1e-8) as f32;
        rewards.iter_mut().for_each(|r| *r /= s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_batch_stats() {
        let mut s = RunningMeanStd::new(2);
        let rows: Vec<f32> = (0..200)
            .map(|i| (i % 7) as f32 * if i % 2 == 0 { 1.0 } else { 3.0 })
            .collect();
        s.update(&rows[..100]);
        s.update(&rows[100..]);
        for f in 0..2 {
            let xs: Vec<f64> = rows.iter().skip(f).step_by(2).map(|&x| x as f64).collect();
            let m = xs.iter().sum::<f64>() / xs.len() as f64;
            let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
            assert!(
                (s.mean[f] - m).abs() < 1e-3 && (s.var[f] - v).abs() < 1e-2,
                "{f}"
            );
        }
        let mut r = vec![s.mean[0] as f32, 1e6];
        s.normalize(&mut r, 5.0);
        assert!(r[0].abs() < 1e-4 && r[1] == 5.0);
    }

    #[test]
    fn reward_scale_divides_by_return_std() {
        let mut rs = RewardScale::new(2, 0.99);
        let mut r = vec![2.0f32; 64];
        rs.scale(&mut r);
        assert!(r.iter().all(|x| x.is_finite() && *x > 0.0));
        assert!(r[0] < 2.0);
    }
}
