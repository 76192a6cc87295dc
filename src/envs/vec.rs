//! The generic vectoriser: `n` copies of a single-environment [`Env`] behind [`VecEnv`], with
//! auto-reset, `start` flags, `final_obs` and episode statistics, writing struct-of-arrays
//! outputs without allocating per step.

use super::rng::Rng;
use super::{Actions, StepBatch, VecEnv};
use crate::check::ir::EnvInfo;

/// One action for one environment.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    /// A discrete action (MultiDiscrete actions arrive flattened row-major).
    Discrete(u32),
    /// A continuous action vector.
    Continuous(&'a [f32]),
}

impl Action<'_> {
    /// The discrete index (continuous actions map to 0; the vectoriser never mixes them).
    #[inline]
    pub fn index(&self) -> u32 {
        match self {
            Action::Discrete(a) => *a,
            Action::Continuous(_) => 0,
        }
    }

    /// The first continuous component (a discrete action is returned as a float).
    #[inline]
    pub fn scalar(&self) -> f32 {
        match self {
            Action::Discrete(a) => *a as f32,
            Action::Continuous(v) => v.first().copied().unwrap_or(0.0),
        }
    }
}

/// Result of one single-environment step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Reward of the step.
    pub reward: f32,
    /// The episode ended in a terminal state.
    pub terminated: bool,
    /// The episode hit its time limit (only set when not terminated).
    pub truncated: bool,
}

/// A single environment: writes its flat observation into a caller-provided row.
pub trait Env: Send {
    /// Width of the flat observation row.
    fn obs_dim(&self) -> usize;
    /// Start a new episode, drawing from `rng`; writes the first observation.
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]);
    /// Apply `action`; writes the next observation (the true one, before any auto-reset).
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome;
}

/// `n` independent copies of an [`Env`], each with its own RNG stream.
pub struct Vectorized<E: Env> {
    info: EnvInfo,
    envs: Vec<E>,
    rngs: Vec<Rng>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    act_dim: usize,
}

impl<E: Env> Vectorized<E> {
    /// Build `n` copies with `make(i)`; `info` must describe them.
    pub fn new(info: EnvInfo, n: usize, make: impl Fn() -> E) -> Self {
        let envs: Vec<E> = (0..n).map(|_| make()).collect();
        if let Some(e) = envs.first() {
            assert_eq!(
                e.obs_dim(),
                info.obs_dim,
                "{}: obs_dim disagrees with the table",
                info.id
            );
        }
        let act_dim = match &info.action {
            crate::check::ir::ActionSpace::Box { dim, .. } => *dim,
            crate::check::ir::ActionSpace::Discrete(_) => 1,
        };
        Vectorized {
            info,
            envs,
            rngs: (0..n).map(|i| Rng::for_index(0, i as u64, 0)).collect(),
            returns: vec![0.0; n],
            lengths: vec![0; n],
            act_dim,
        }
    }

    /// The single environments (for inspection in tests and oracles).
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    fn ensure(out: &mut StepBatch, n: usize, d: usize) {
        if out.obs.len() != n * d || out.reward.len() != n {
            *out = StepBatch::new(n, d);
        }
    }
}

impl<E: Env> VecEnv for Vectorized<E> {
    fn info(&self) -> &EnvInfo {
        &self.info
    }

    fn num_envs(&self) -> usize {
        self.envs.len()
    }

    fn reset(&mut self, seed: u64, out: &mut StepBatch) {
        let n = self.envs.len();
        let d = self.info.obs_dim;
        Self::ensure(out, n, d);
        for i in 0..n {
            self.rngs[i] = Rng::for_index(seed, i as u64, 0);
            let row = &mut out.obs[i * d..(i + 1) * d];
            self.envs[i].reset(&mut self.rngs[i], row);
            self.returns[i] = 0.0;
            self.lengths[i] = 0;
        }
        out.reward.fill(0.0);
        out.terminated.fill(false);
        out.truncated.fill(false);
        out.start.fill(true);
        out.episode_return.fill(0.0);
        out.episode_length.fill(0);
    }

    fn step(&mut self, actions: &Actions, out: &mut StepBatch) {
        let n = self.envs.len();
        let d = self.info.obs_dim;
        Self::ensure(out, n, d);
        for i in 0..n {
            let action = match actions {
                Actions::Discrete(a) => Action::Discrete(a[i]),
                Actions::Continuous(a) => {
                    Action::Continuous(&a[i * self.act_dim..(i + 1) * self.act_dim])
                }
            };
            let row = &mut out.obs[i * d..(i + 1) * d];
            let o = self.envs[i].step(action, &mut self.rngs[i], row);
            self.returns[i] += o.reward as f64;
            self.lengths[i] += 1;
            out.reward[i] = o.reward;
            out.terminated[i] = o.terminated;
            out.truncated[i] = o.truncated && !o.terminated;
            let done = o.terminated || o.truncated;
            out.start[i] = done;
            if done {
                out.final_obs[i * d..(i + 1) * d].copy_from_slice(row);
                out.episode_return[i] = self.returns[i] as f32;
                out.episode_length[i] = self.lengths[i];
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                self.envs[i].reset(&mut self.rngs[i], row);
            }
        }
    }
}

/// Write a one-hot of `value` (width `row.len()`) after zeroing the row.
#[inline]
pub fn one_hot(row: &mut [f32], value: usize) {
    row.fill(0.0);
    if let Some(x) = row.get_mut(value) {
        *x = 1.0;
    }
}
