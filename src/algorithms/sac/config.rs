//! SAC hyperparameters (registry names, memorax/cleanrl defaults).

use crate::check::ir;

/// SAC hyperparameters.
#[derive(Clone, Debug)]
pub struct SacConfig {
    /// Parallel environments.
    pub num_envs: usize,
    /// Replay capacity in steps (split evenly over environments).
    pub buffer_size: usize,
    /// Windows (transitions when carry-free) per update.
    pub batch_size: usize,
    /// Discount.
    pub gamma: f32,
    /// Target smoothing rate.
    pub tau: f32,
    /// Env steps per update round.
    pub train_frequency: u64,
    /// Env steps between target updates.
    pub target_network_frequency: u64,
    /// Target entropy scale: `−scale·|A|` (continuous), `0.89·scale·ln|A|` (discrete).
    pub target_entropy_scale: f32,
    /// Updates per round.
    pub gradient_steps: usize,
    /// Env steps of uniformly random actions before learning.
    pub learning_starts: u64,
    /// Initial temperature α.
    pub initial_alpha: f32,
    /// Tune α towards the target entropy.
    pub autotune: bool,
    /// Trained steps per replayed window (recurrent networks).
    pub seq_len: usize,
    /// Burn-in steps per window (recurrent networks).
    pub burn_in: usize,
}

impl SacConfig {
    /// From checked hyperparameters.
    pub fn from_args(a: &ir::Args) -> Self {
        let f = |k: &str, d: f64| a.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        SacConfig {
            num_envs: f("num_envs", 1.0) as usize,
            buffer_size: f("buffer_size", 1_000_000.0) as usize,
            batch_size: f("batch_size", 256.0) as usize,
            gamma: f("gamma", 0.99) as f32,
            tau: f("tau", 0.005) as f32,
            train_frequency: f("train_frequency", 1.0) as u64,
            target_network_frequency: f("target_network_frequency", 1.0) as u64,
            target_entropy_scale: f("target_entropy_scale", 1.0) as f32,
            gradient_steps: f("gradient_steps", 1.0) as usize,
            learning_starts: f("learning_starts", 5000.0) as u64,
            initial_alpha: f("initial_alpha", 1.0) as f32,
            autotune: a
                .get("autotune")
                .and_then(ir::Value::as_bool)
                .unwrap_or(true),
            seq_len: f("seq_len", 1.0) as usize,
            burn_in: f("burn_in", 0.0) as usize,
        }
    }

    /// Target entropy for `actions` discrete actions or action dimensions.
    pub fn target_entropy(&self, discrete: bool, actions: usize) -> f32 {
        if discrete {
            0.89 * self.target_entropy_scale * (actions as f32).ln()
        } else {
            -self.target_entropy_scale * actions as f32
        }
    }
}

/// Adam on the scalar `log α`, on the host (its state is three numbers).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Temperature {
    /// `ln α`.
    pub log_alpha: f64,
    m: f64,
    v: f64,
    t: u64,
}

impl Temperature {
    /// Start at `alpha`.
    pub fn new(alpha: f32) -> Self {
        Temperature {
            log_alpha: (alpha as f64).ln(),
            m: 0.0,
            v: 0.0,
            t: 0,
        }
    }

    /// Current α.
    pub fn alpha(&self) -> f32 {
        self.log_alpha.exp() as f32
    }

    /// One Adam step on the loss `ln α · (H − H̄)`, given the batch entropy estimate `H`.
    pub fn update(&mut self, entropy: f32, target: f32, lr: f64) {
        let g = (entropy - target) as f64;
        self.t += 1;
        self.m = 0.9 * self.m + 0.1 * g;
        self.v = 0.999 * self.v + 0.001 * g * g;
        let mh = self.m / (1.0 - 0.9f64.powi(self.t as i32));
        let vh = self.v / (1.0 - 0.999f64.powi(self.t as i32));
        self.log_alpha -= lr * mh / (vh.sqrt() + 1e-8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_rises_when_entropy_is_below_target() {
        let mut t = Temperature::new(0.2);
        for _ in 0..10 {
            t.update(-3.0, -1.0, 1e-2);
        }
        assert!(t.alpha() > 0.2);
        let mut t = Temperature::new(0.2);
        for _ in 0..10 {
            t.update(1.0, -1.0, 1e-2);
        }
        assert!(t.alpha() < 0.2);
    }

    #[test]
    fn target_entropy_defaults() {
        let c = SacConfig::from_args(&ir::Args(vec![]));
        assert_eq!(c.target_entropy(false, 3), -3.0);
        assert!((c.target_entropy(true, 2) - 0.89 * 2f32.ln()).abs() < 1e-6);
    }
}
