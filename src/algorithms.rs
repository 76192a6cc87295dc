//! Training algorithms over lowered agents and native environments.
//!
//! Every algorithm implements [`Algorithm`]: one call of [`Algorithm::iterate`] collects
//! experience and updates the model; the `train` layer around it logs, evaluates and checkpoints.

pub mod buffers;
pub mod common;
pub mod dqn;
pub mod eval;
pub mod intrinsic;
pub mod ippo;
pub mod optim;
pub mod ppo;
pub mod pqn;
pub mod r2d2;
pub mod returns;
pub mod sac;
pub mod snapshot;

use std::collections::BTreeMap;

use crate::check::ir;
use crate::runtime::net::AgentModel;

/// What one iteration did.
#[derive(Clone, Debug, Default)]
pub struct IterStats {
    /// Environment steps taken by this iteration.
    pub env_steps: u64,
    /// Mean return, mean length and count of training episodes that ended in this iteration.
    pub episodes: Option<(f32, f32, usize)>,
    /// Named scalar losses and diagnostics (`policy_loss`, `value_loss`, `grad_norm`, ...).
    pub scalars: BTreeMap<String, f32>,
}

/// Errors that stop training.
#[derive(Debug, thiserror::Error)]
pub enum AlgoError {
    /// A loss became NaN or infinite.
    #[error("loss `{0}` became {1} at env step {2}")]
    NonFinite(String, f32, u64),
    /// The agent cannot be trained as configured (should have been a checker error).
    #[error("{0}")]
    Config(String),
    /// An environment failed (a bridged subprocess crashed, hung or reported an error).
    #[error("environment failure: {0}")]
    Env(String),
}

/// A training algorithm bound to an agent, its model and its environments.
pub trait Algorithm {
    /// Collect experience and update once; `progress` ∈ [0, 1] drives schedules.
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError>;
    /// Environment steps taken so far.
    fn env_steps(&self) -> u64;
    /// Environment steps one iteration takes.
    fn steps_per_iteration(&self) -> u64;
    /// The current model (parameters on the training device).
    fn model(&self) -> &AgentModel;
    /// The head used to act greedily: (network, head) indices.
    fn policy_head(&self) -> (usize, usize);
    /// Serialisable algorithm state beyond the model (optimizer, RNG, counters, environments).
    fn state(&self) -> AlgoState;
    /// Restore from a checkpoint.
    fn restore(&mut self, model: AgentModel, state: AlgoState) -> Result<(), String>;
}

/// Algorithm state saved in checkpoints next to the model.
pub struct AlgoState {
    /// Optimizer state bytes (burn record).
    pub optimizer: Vec<u8>,
    /// Counters and RNG words, as JSON.
    pub meta: serde_json::Value,
    /// Extra model (e.g. a DQN target network), if any.
    pub target: Option<AgentModel>,
    /// Exact trajectory state ([`snapshot`] CBOR): environments, step batch, carries, RNG,
    /// counters and buffers; restoring it makes a resumed run bit-identical on CPU.
    pub exact: Vec<u8>,
}

/// Build the algorithm named by a checked agent.
pub fn build(
    agent: &ir::Agent,
    device: &burn::prelude::Device,
) -> Result<Box<dyn Algorithm>, AlgoError> {
    match agent.algorithm.as_str() {
        "ppo" => Ok(Box::new(ppo::Ppo::new(agent, device)?)),
        "dqn" => Ok(Box::new(dqn::Dqn::new(agent, device)?)),
        "pqn" => Ok(Box::new(pqn::Pqn::new(agent, device)?)),
        "r2d2" => Ok(Box::new(r2d2::R2d2::new(agent, device)?)),
        "sac" => Ok(Box::new(sac::Sac::new(agent, device)?)),
        "ippo" | "irppo" => Ok(Box::new(ippo::new(agent, device)?)),
        other => Err(AlgoError::Config(format!(
            "algorithm `{other}` is checked but has no training runtime in this build (available: ppo, dqn, pqn, r2d2, sac, ippo, irppo)"
        ))),
    }
}
