//! Native vectorised environments: classic control (gymnax), the POPGym suite, grid worlds, a
//! small multi-agent suite (agents folded into the batch rows).
//!
//! Every environment implements [`VecEnv`]: a batch of `n` independent copies, seeded,
//! auto-resetting, writing struct-of-arrays outputs into a caller-owned [`StepBatch`] so that
//! no step allocates.

use crate::check::ir::{ActionSpace, EnvInfo};

pub mod baseline;
pub mod bridge;
pub mod classic;
pub mod grid;
pub mod multiagent;
pub mod popgym;
pub mod prev;
pub mod registry;
pub mod rng;
pub mod vec;

pub use vec::{Action, Env, Outcome, Vectorized};

/// Actions for a batch of environments.
#[derive(Clone, Debug, PartialEq)]
pub enum Actions {
    /// One discrete action per environment.
    Discrete(Vec<u32>),
    /// `n * dim` continuous actions, row-major.
    Continuous(Vec<f32>),
}

/// Outputs of one vector step (or of a reset), struct-of-arrays, reused across steps.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepBatch {
    /// `n * obs_dim` observations: the observation the agent sees next. After a terminal or
    /// truncated step this is already the first observation of the next episode (auto-reset).
    pub obs: Vec<f32>,
    /// Reward of the step just taken (0 after `reset`).
    pub reward: Vec<f32>,
    /// The step just taken ended the episode in a terminal state (no bootstrapping).
    pub terminated: Vec<bool>,
    /// The step just taken hit the time limit (bootstrap from `final_obs`).
    pub truncated: Vec<bool>,
    /// `obs[i]` is the first observation of an episode (the SPEC §6 `start` flag).
    pub start: Vec<bool>,
    /// For envs that just finished an episode: the true last observation before the auto-reset
    /// (`n * obs_dim`, rows of unfinished envs are unspecified).
    pub final_obs: Vec<f32>,
    /// Return of the episode that just ended (valid where `terminated || truncated`).
    pub episode_return: Vec<f32>,
    /// Length of the episode that just ended (valid where `terminated || truncated`).
    pub episode_length: Vec<u32>,
}

impl StepBatch {
    /// The flags of a batch just after a reset: every environment starts an episode, none has
    /// a reward or has ended.
    pub fn mark_reset(&mut self) {
        self.reward.fill(0.0);
        self.terminated.fill(false);
        self.truncated.fill(false);
        self.start.fill(true);
        self.episode_return.fill(0.0);
        self.episode_length.fill(0);
    }

    /// A batch sized for `n` environments with `obs_dim` observation features.
    pub fn new(n: usize, obs_dim: usize) -> Self {
        StepBatch {
            obs: vec![0.0; n * obs_dim],
            reward: vec![0.0; n],
            terminated: vec![false; n],
            truncated: vec![false; n],
            start: vec![false; n],
            final_obs: vec![0.0; n * obs_dim],
            episode_return: vec![0.0; n],
            episode_length: vec![0; n],
        }
    }
}

/// A batch of `n` seeded, auto-resetting environments of one id.
pub trait VecEnv: Send {
    /// Static description (spaces, flat observation width), equal to the checker's registry entry.
    fn info(&self) -> &EnvInfo;
    /// Rows of the batch: the number of environments (times the agent count for multi-agent ids).
    fn num_envs(&self) -> usize;
    /// Reset every environment; environment `i` draws from a stream derived from `(seed, i)` only,
    /// so results do not depend on how many environments share a batch.
    fn reset(&mut self, seed: u64, out: &mut StepBatch);
    /// Apply one action per environment and auto-reset finished ones.
    fn step(&mut self, actions: &Actions, out: &mut StepBatch);
    /// Snapshot of every environment's state, RNG stream and episode accumulators (checkpoints).
    fn save_state(&self) -> Vec<u8>;
    /// Restore a [`VecEnv::save_state`] snapshot; fails on corrupt bytes or another id / size.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String>;
    /// Environment metrics of the episodes that ended since the last call (e.g. the mean
    /// `env/visited_cells` of grid worlds); empty for environments without any.
    fn take_metrics(&mut self) -> Vec<(String, f32)> {
        vec![]
    }

    /// The error that broke this batch, if any (bridged subprocesses can crash or hang; native
    /// environments never fail). Once set, steps return harmless zero batches.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// Build a batch of `n` environments for a canonical id (or a documented alias).
pub fn make(id: &str, n: usize) -> Option<Box<dyn VecEnv>> {
    try_make(id, n).ok()
}

/// Like [`make`], with the reason on failure (unknown id, bridge subprocess could not start).
pub fn try_make(id: &str, n: usize) -> Result<Box<dyn VecEnv>, String> {
    if bridge::is_bridge_id(id) {
        let p = bridge::processes(n);
        return Ok(Box::new(bridge::BridgeEnv::new(id, n, p)?));
    }
    registry::make(id, n).ok_or_else(|| format!("no environment `{id}`"))
}

/// Like [`make`], with the previous action and reward appended to observations where the
/// network consumes them (`embed_action`, `embed_reward`).
pub fn make_with(id: &str, n: usize, prev: prev::PrevInputs) -> Result<Box<dyn VecEnv>, String> {
    let env = try_make(id, n)?;
    Ok(if prev.is_empty() {
        env
    } else {
        Box::new(prev::WithPrevInputs::new(env, prev))
    })
}

/// The checker-facing description of an id, if known.
pub fn info(id: &str) -> Option<EnvInfo> {
    crate::check::env_table::lookup(id)
}

/// True when the action space is discrete.
pub fn is_discrete(info: &EnvInfo) -> bool {
    matches!(info.action, ActionSpace::Discrete(_))
}
