//! Random-policy baselines: the uniform random return of an environment, a number every
//! results table needs.

use serde::Serialize;

use super::rng::Rng;
use super::{Actions, StepBatch};
use crate::check::ir::ActionSpace;

/// Statistics of complete episodes under a policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BaselineStats {
    /// Canonical environment id.
    pub env: String,
    /// Number of complete episodes.
    pub episodes: usize,
    /// Mean episode return.
    pub return_mean: f64,
    /// Standard deviation of the episode return (population, like numpy's default).
    pub return_std: f64,
    /// Mean episode length.
    pub length_mean: f64,
    /// Standard error of the mean return (`std / sqrt(episodes)`).
    #[serde(skip)]
    pub return_sem: f64,
    /// Standard deviation of the episode length.
    #[serde(skip)]
    pub length_std: f64,
    /// Shortest episode.
    #[serde(skip)]
    pub length_min: u32,
    /// Longest episode.
    #[serde(skip)]
    pub length_max: u32,
}

fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Run a uniform random policy until `episodes` episodes finish. Episodes are spread over up to
/// 16 parallel environments, each contributing a fixed quota of its *first* episodes, so short
/// episodes are not over-represented and the result depends only on `(id, episodes, seed)`.
/// For multi-agent ids every agent acts at random and the statistics are team returns.
pub fn random(id: &str, episodes: usize, seed: u64) -> Result<BaselineStats, String> {
    let info = super::info(id).ok_or_else(|| format!("unknown environment `{id}`"))?;
    let n = episodes.clamp(1, 16);
    let mut env = super::make(id, n).ok_or_else(|| format!("unknown environment `{id}`"))?;
    let quota: Vec<usize> = (0..n)
        .map(|i| episodes / n + usize::from(i < episodes % n))
        .collect();
    let agents = info.agents.max(1);
    let rows = n * agents;
    let mut policy: Vec<Rng> = (0..rows)
        .map(|i| Rng::for_index(seed, i as u64, 1))
        .collect();
    let mut out = StepBatch::new(rows, info.obs_dim);
    env.reset(seed, &mut out);
    let mut returns: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut lengths: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut actions = match &info.action {
        ActionSpace::Discrete(_) => Actions::Discrete(vec![0; rows]),
        ActionSpace::Box { dim, .. } => Actions::Continuous(vec![0.0; rows * dim]),
    };
    while (0..n).any(|i| returns[i].len() < quota[i]) {
        match (&mut actions, &info.action) {
            (Actions::Discrete(a), ActionSpace::Discrete(k)) => {
                for (x, r) in a.iter_mut().zip(policy.iter_mut()) {
                    *x = r.below(*k as u32);
                }
            }
            (Actions::Continuous(a), ActionSpace::Box { dim, low, high }) => {
                for (i, r) in policy.iter_mut().enumerate() {
                    for j in 0..*dim {
                        a[i * dim + j] = r.uniform_f32(low[j], high[j]);
                    }
                }
            }
            _ => unreachable!("action buffer matches the action space"),
        }
        env.step(&actions, &mut out);
        for i in 0..n {
            let r = i * agents;
            if (out.terminated[r] || out.truncated[r]) && returns[i].len() < quota[i] {
                returns[i].push(out.episode_return[r] as f64);
                lengths[i].push(out.episode_length[r]);
            }
        }
    }
    let returns: Vec<f64> = returns.concat();
    let lengths: Vec<u32> = lengths.concat();
    let (return_mean, return_std) = mean_std(&returns);
    let lf: Vec<f64> = lengths.iter().map(|&l| l as f64).collect();
    let (length_mean, length_std) = mean_std(&lf);
    Ok(BaselineStats {
        env: info.id,
        episodes: returns.len(),
        return_mean,
        return_std,
        length_mean,
        return_sem: return_std / (returns.len().max(1) as f64).sqrt(),
        length_std,
        length_min: lengths.iter().copied().min().unwrap_or(0),
        length_max: lengths.iter().copied().max().unwrap_or(0),
    })
}
