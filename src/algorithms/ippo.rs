//! Independent PPO learners with parameter sharing on multi-agent environments: `ippo`
//! (feed-forward torsos) and `irppo` (recurrent torsos, one carry per agent).
//!
//! A multi-agent environment folds its agents into the batch rows (`envs::multiagent`), so an
//! `N`-agent task with `num_envs` copies is trained by [`Ppo`] on `num_envs × N` columns: every
//! agent is an independent learner on its own local observations and (shared) reward, all agents
//! share one parameter set, and each agent keeps its own recurrent state, stored at the rollout
//! start and replayed as a whole sequence (minibatches split agent columns, never time).
//! Environment steps count joint steps of the copies; episode statistics are team returns.

use burn::prelude::*;

use crate::check::ir;

use super::AlgoError;
use super::ppo::Ppo;

/// Build an `ippo`/`irppo` learner (the checker guarantees a multi-agent environment and, for
/// `irppo`, a recurrent network).
pub fn new(agent: &ir::Agent, device: &Device) -> Result<Ppo, AlgoError> {
    if agent.env.agents < 2 {
        return Err(AlgoError::Config(format!(
            "`{}` needs a multi-agent environment, but {} has one agent",
            agent.algorithm, agent.env.id
        )));
    }
    Ppo::new(agent, device)
}
