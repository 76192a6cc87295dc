//! Greedy / deterministic evaluation of a policy head on fresh environments.

use burn::prelude::*;

use crate::check::ir::ActionSpace;
use crate::envs::{self, Actions, StepBatch};
use crate::runtime::net::AgentModel;

use super::common::{argmax, flags, host, tensor};

/// Result of an evaluation.
#[derive(Clone, Debug, serde::Serialize, PartialEq)]
pub struct EvalResult {
    /// Episodes evaluated.
    pub episodes: usize,
    /// Mean episode return.
    pub return_mean: f64,
    /// Standard deviation of the episode return.
    pub return_std: f64,
    /// Mean episode length.
    pub length_mean: f64,
}

/// Greedy action of each row of head outputs.
pub fn greedy_actions(out: &[f32], rows: usize, action: &ActionSpace, squash: bool) -> Actions {
    match action {
        ActionSpace::Discrete(n) => Actions::Discrete(
            (0..rows)
                .map(|r| argmax(&out[r * n..(r + 1) * n]))
                .collect(),
        ),
        ActionSpace::Box { dim, low, high } => {
            let mut a = Vec::with_capacity(rows * dim);
            for r in 0..rows {
                for d in 0..*dim {
                    let m = out[r * dim + d];
                    let v = if squash {
                        low[d] + (m.tanh() + 1.0) * 0.5 * (high[d] - low[d])
                    } else {
                        m
                    };
                    a.push(v.clamp(low[d], high[d]));
                }
            }
            Actions::Continuous(a)
        }
    }
}

/// Run `episodes` greedy episodes of network `net`/head `head` on `num_envs` fresh copies of `env_id`
/// (for a multi-agent id every agent acts with the shared policy; returns are team returns).
pub fn evaluate(
    model: &AgentModel,
    (net, head): (usize, usize),
    env_id: &str,
    num_envs: usize,
    episodes: usize,
    seed: u64,
    squash: bool,
) -> Option<EvalResult> {
    let model = model.valid();
    let (action, reward) = model.prev_inputs();
    let prev = envs::prev::PrevInputs { action, reward };
    let mut env = envs::make_with(env_id, num_envs, prev).ok()?;
    let info = env.info().clone();
    let agents = info.agents.max(1);
    let rows = num_envs * agents;
    let device = Device::flex();
    let mut batch = StepBatch::new(rows, info.obs_dim);
    env.reset(seed, &mut batch);
    let mut carry = model.init_carry(net, rows, &device);
    let mut returns = Vec::new();
    let mut lengths = Vec::new();
    // cap the number of steps so a never-ending policy cannot hang evaluation
    let max_steps = info.max_steps.unwrap_or(10_000) * (episodes / num_envs.max(1) + 2);
    for _ in 0..max_steps {
        let obs = tensor(batch.obs.clone(), [1, rows, info.obs_dim], &device);
        let start = flags(&batch.start, &device);
        let out = model.forward(net, obs, &start, carry);
        carry = out.carry;
        let h = host(out.heads[head].clone());
        let actions = greedy_actions(&h, rows, &info.action, squash);
        env.step(&actions, &mut batch);
        for i in (0..rows).step_by(agents) {
            if batch.terminated[i] || batch.truncated[i] {
                returns.push(batch.episode_return[i] as f64);
                lengths.push(batch.episode_length[i] as f64);
            }
        }
        if returns.len() >= episodes {
            break;
        }
    }
    returns.truncate(episodes);
    lengths.truncate(episodes);
    let n = returns.len().max(1) as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / n;
    Some(EvalResult {
        episodes: returns.len(),
        return_mean: mean,
        return_std: var.sqrt(),
        length_mean: lengths.iter().sum::<f64>() / n,
    })
}
