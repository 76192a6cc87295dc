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
    /// Distinct cells visited in the current episode, for environments with positions (grid
    /// worlds); read just before an auto-reset and logged as `env/visited_cells`.
    fn visited_cells(&self) -> Option<u32> {
        None
    }
}

/// `n` independent copies of an [`Env`], each with its own RNG stream.
pub struct Vectorized<E: Env> {
    info: EnvInfo,
    envs: Vec<E>,
    rngs: Vec<Rng>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    act_dim: usize,
    visits: (f64, u64),
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
            visits: (0.0, 0),
        }
    }

    /// The single environments (for inspection in tests and oracles).
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    /// Serialise this batch's state (id, envs, RNG streams, episode accumulators) as CBOR.
    fn snapshot(&self) -> Vec<u8>
    where
        E: serde::Serialize,
    {
        let snap = VecSnapshot {
            id: self.info.id.clone(),
            envs: &self.envs,
            rngs: &self.rngs,
            returns: &self.returns,
            lengths: &self.lengths,
            visits: self.visits,
        };
        let mut out = Vec::new();
        ciborium::into_writer(&snap, &mut out).expect("environment state serialises");
        out
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String>
    where
        E: serde::de::DeserializeOwned,
    {
        let snap: VecSnapshotOwned<E> =
            ciborium::from_reader(bytes).map_err(|e| format!("corrupt environment state: {e}"))?;
        let n = self.envs.len();
        if snap.id != self.info.id {
            return Err(format!(
                "environment state is for `{}`, this run uses `{}`",
                snap.id, self.info.id
            ));
        }
        if snap.envs.len() != n
            || snap.rngs.len() != n
            || snap.returns.len() != n
            || snap.lengths.len() != n
        {
            return Err(format!(
                "environment state holds {} environments, this run uses {n}",
                snap.envs.len()
            ));
        }
        self.envs = snap.envs;
        self.rngs = snap.rngs;
        self.returns = snap.returns;
        self.lengths = snap.lengths;
        self.visits = snap.visits;
        Ok(())
    }

    fn ensure(out: &mut StepBatch, n: usize, d: usize) {
        if out.obs.len() != n * d || out.reward.len() != n {
            *out = StepBatch::new(n, d);
        }
    }
}

#[derive(serde::Serialize)]
struct VecSnapshot<'a, E> {
    id: String,
    envs: &'a [E],
    rngs: &'a [Rng],
    returns: &'a [f64],
    lengths: &'a [u32],
    visits: (f64, u64),
}

#[derive(serde::Deserialize)]
#[serde(bound = "E: serde::de::DeserializeOwned")]
struct VecSnapshotOwned<E> {
    id: String,
    envs: Vec<E>,
    rngs: Vec<Rng>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    #[serde(default)]
    visits: (f64, u64),
}

/// Vectorised environments are serialisable (checkpoints restore a batch exactly).
impl<E: Env + serde::Serialize + serde::de::DeserializeOwned> VecEnv for Vectorized<E> {
    fn save_state(&self) -> Vec<u8> {
        self.snapshot()
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.restore(bytes)
    }

    fn info(&self) -> &EnvInfo {
        &self.info
    }

    fn take_metrics(&mut self) -> Vec<(String, f32)> {
        let (sum, count) = std::mem::take(&mut self.visits);
        if count == 0 {
            return vec![];
        }
        vec![("env/visited_cells".into(), (sum / count as f64) as f32)]
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
        out.mark_reset();
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
                if let Some(v) = self.envs[i].visited_cells() {
                    self.visits.0 += v as f64;
                    self.visits.1 += 1;
                }
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
