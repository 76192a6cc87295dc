//! R2D2 hyperparameters (registry names, memorax defaults).

use crate::check::ir;

/// R2D2 hyperparameters.
#[derive(Clone, Debug)]
pub struct R2d2Config {
    /// Parallel environments.
    pub num_envs: usize,
    /// Replay capacity in steps (split evenly over environments).
    pub buffer_size: usize,
    /// Sequences per gradient step.
    pub batch_size: usize,
    /// Discount.
    pub gamma: f32,
    /// Target update rate (1 = hard copy).
    pub tau: f32,
    /// Env steps between target updates.
    pub target_network_frequency: u64,
    /// Env steps per gradient step.
    pub train_frequency: u64,
    /// Env steps before learning.
    pub learning_starts: u64,
    /// Initial ε.
    pub start_e: f32,
    /// Final ε.
    pub end_e: f32,
    /// Fraction of the run over which ε decays.
    pub exploration_fraction: f64,
    /// Burn-in steps per window (carry refresh, no loss).
    pub burn_in: usize,
    /// Trained steps per window.
    pub seq_len: usize,
    /// n of the n-step returns.
    pub n_step: usize,
    /// Priority exponent α.
    pub priority_exponent: f64,
    /// Priority mix η: `η·max|δ| + (1 − η)·mean|δ|`.
    pub priority_mix: f64,
    /// Initial importance-sampling exponent β (annealed to 1).
    pub importance_sampling_exponent: f64,
    /// Prioritized (else uniform) window sampling.
    pub prioritized: bool,
    /// Double-Q targets.
    pub double: bool,
    /// Value rescaling `h`.
    pub value_rescaling: bool,
    /// Windows start only at episode starts.
    pub episode_starts: bool,
}

impl R2d2Config {
    /// From checked hyperparameters.
    pub fn from_args(a: &ir::Args) -> Self {
        let f = |k: &str, d: f64| a.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        let b = |k: &str, d: bool| a.get(k).and_then(ir::Value::as_bool).unwrap_or(d);
        R2d2Config {
            num_envs: f("num_envs", 10.0) as usize,
            buffer_size: f("buffer_size", 100_000.0) as usize,
            batch_size: f("batch_size", 32.0) as usize,
            gamma: f("gamma", 0.99) as f32,
            tau: f("tau", 1.0) as f32,
            target_network_frequency: f("target_network_frequency", 2500.0) as u64,
            train_frequency: f("train_frequency", 10.0) as u64,
            learning_starts: f("learning_starts", 10_000.0) as u64,
            start_e: f("start_e", 1.0) as f32,
            end_e: f("end_e", 0.05) as f32,
            exploration_fraction: f("exploration_fraction", 0.5),
            burn_in: f("burn_in", 10.0) as usize,
            seq_len: f("seq_len", 80.0) as usize,
            n_step: f("n_step", 5.0) as usize,
            priority_exponent: f("priority_exponent", 0.9),
            priority_mix: f("priority_mix", 0.9),
            importance_sampling_exponent: f("importance_sampling_exponent", 0.6),
            prioritized: b("prioritized", true),
            double: b("double", true),
            value_rescaling: b("value_rescaling", true),
            episode_starts: b("episode_starts", false),
        }
    }

    /// Steps of one replayed window: burn-in, trained steps and the n-step lookahead.
    pub fn window(&self) -> usize {
        self.burn_in + self.seq_len + self.n_step
    }

    /// ε after `step` of `total` env steps (held until `learning_starts`, then linear decay).
    pub fn epsilon(&self, step: u64, total: u64) -> f32 {
        let span = (self.exploration_fraction * total as f64).max(1.0);
        let frac = (step.saturating_sub(self.learning_starts) as f64 / span).min(1.0) as f32;
        self.start_e + (self.end_e - self.start_e) * frac
    }

    /// Importance-sampling exponent at `progress`, annealed linearly to 1.
    pub fn beta(&self, progress: f64) -> f64 {
        let b0 = self.importance_sampling_exponent;
        b0 + (1.0 - b0) * progress.clamp(0.0, 1.0)
    }
}
