//! The multi-agent vectoriser: `n` copies of an `N`-agent [`MultiEnv`] as one [`VecEnv`] of
//! `n * N` rows, with auto-reset, `start` flags, `final_obs`, team episode statistics and exact
//! save/load.

use crate::check::ir::EnvInfo;
use crate::envs::rng::Rng;
use crate::envs::{Actions, StepBatch, VecEnv};

/// Result of one joint step of a multi-agent environment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MultiOutcome {
    /// The episode ended in a terminal state (for every agent).
    pub terminated: bool,
    /// The episode hit its time limit (only set when not terminated).
    pub truncated: bool,
}

/// One copy of a cooperative multi-agent environment with discrete per-agent actions.
pub trait MultiEnv: Send {
    /// Number of agents.
    fn agents(&self) -> usize;
    /// Width of one agent's flat observation row.
    fn obs_dim(&self) -> usize;
    /// Start a new episode; writes `agents * obs_dim` observations (agent-major).
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]);
    /// Apply one action per agent; writes the next observations (before any auto-reset) and one
    /// reward per agent.
    fn step(
        &mut self,
        actions: &[u32],
        rng: &mut Rng,
        obs: &mut [f32],
        rewards: &mut [f32],
    ) -> MultiOutcome;
}

/// `n` independent copies of a [`MultiEnv`], agents folded into the batch rows.
pub struct MultiVectorized<E: MultiEnv> {
    info: EnvInfo,
    envs: Vec<E>,
    rngs: Vec<Rng>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
    actions: Vec<u32>,
}

#[derive(serde::Serialize)]
struct Snapshot<'a, E> {
    id: String,
    envs: &'a [E],
    rngs: &'a [Rng],
    returns: &'a [f64],
    lengths: &'a [u32],
}

#[derive(serde::Deserialize)]
#[serde(bound = "E: serde::de::DeserializeOwned")]
struct SnapshotOwned<E> {
    id: String,
    envs: Vec<E>,
    rngs: Vec<Rng>,
    returns: Vec<f64>,
    lengths: Vec<u32>,
}

impl<E: MultiEnv> MultiVectorized<E> {
    /// Build `n` copies with `make()`; `info` must describe one agent's spaces and the agent count.
    pub fn new(info: EnvInfo, n: usize, make: impl Fn() -> E) -> Self {
        let envs: Vec<E> = (0..n).map(|_| make()).collect();
        if let Some(e) = envs.first() {
            assert_eq!(e.obs_dim(), info.obs_dim, "{}: obs_dim disagrees", info.id);
            assert_eq!(e.agents(), info.agents, "{}: agents disagree", info.id);
        }
        MultiVectorized {
            rngs: (0..n).map(|i| Rng::for_index(0, i as u64, 0)).collect(),
            returns: vec![0.0; n],
            lengths: vec![0; n],
            actions: vec![0; info.agents],
            info,
            envs,
        }
    }

    /// The single environment copies (for inspection in tests and scripted policies).
    pub fn envs(&self) -> &[E] {
        &self.envs
    }

    fn ensure(&self, out: &mut StepBatch) {
        let rows = self.envs.len() * self.info.agents;
        if out.obs.len() != rows * self.info.obs_dim || out.reward.len() != rows {
            *out = StepBatch::new(rows, self.info.obs_dim);
        }
    }
}

impl<E: MultiEnv + serde::Serialize + serde::de::DeserializeOwned> VecEnv for MultiVectorized<E> {
    fn info(&self) -> &EnvInfo {
        &self.info
    }

    /// Rows of the batch: environment copies × agents.
    fn num_envs(&self) -> usize {
        self.envs.len() * self.info.agents
    }

    fn reset(&mut self, seed: u64, out: &mut StepBatch) {
        self.ensure(out);
        let (na, d) = (self.info.agents, self.info.obs_dim);
        for i in 0..self.envs.len() {
            self.rngs[i] = Rng::for_index(seed, i as u64, 0);
            let block = &mut out.obs[i * na * d..(i + 1) * na * d];
            self.envs[i].reset(&mut self.rngs[i], block);
            self.returns[i] = 0.0;
            self.lengths[i] = 0;
        }
        out.mark_reset();
    }

    fn step(&mut self, actions: &Actions, out: &mut StepBatch) {
        self.ensure(out);
        let (na, d) = (self.info.agents, self.info.obs_dim);
        for i in 0..self.envs.len() {
            let rows = i * na..(i + 1) * na;
            for (k, r) in rows.clone().enumerate() {
                self.actions[k] = match actions {
                    Actions::Discrete(a) => a[r],
                    // continuous actions are rejected by the checker for these environments
                    Actions::Continuous(_) => 0,
                };
            }
            let block = &mut out.obs[i * na * d..(i + 1) * na * d];
            let o = self.envs[i].step(
                &self.actions,
                &mut self.rngs[i],
                block,
                &mut out.reward[rows.clone()],
            );
            let team = out.reward[rows.clone()].iter().sum::<f32>() / na as f32;
            self.returns[i] += team as f64;
            self.lengths[i] += 1;
            let truncated = o.truncated && !o.terminated;
            let done = o.terminated || o.truncated;
            for r in rows {
                out.terminated[r] = o.terminated;
                out.truncated[r] = truncated;
                out.start[r] = done;
                if done {
                    out.episode_return[r] = self.returns[i] as f32;
                    out.episode_length[r] = self.lengths[i];
                }
            }
            if done {
                let span = i * na * d..(i + 1) * na * d;
                out.final_obs[span.clone()].copy_from_slice(&out.obs[span.clone()]);
                self.returns[i] = 0.0;
                self.lengths[i] = 0;
                self.envs[i].reset(&mut self.rngs[i], &mut out.obs[span]);
            }
        }
    }

    fn save_state(&self) -> Vec<u8> {
        let snap = Snapshot {
            id: self.info.id.clone(),
            envs: &self.envs,
            rngs: &self.rngs,
            returns: &self.returns,
            lengths: &self.lengths,
        };
        let mut out = Vec::new();
        ciborium::into_writer(&snap, &mut out).expect("environment state serialises");
        out
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), String> {
        let snap: SnapshotOwned<E> =
            ciborium::from_reader(bytes).map_err(|e| format!("corrupt environment state: {e}"))?;
        if snap.id != self.info.id {
            return Err(format!(
                "environment state is for `{}`, this run uses `{}`",
                snap.id, self.info.id
            ));
        }
        let n = self.envs.len();
        if [
            snap.envs.len(),
            snap.rngs.len(),
            snap.returns.len(),
            snap.lengths.len(),
        ]
        .iter()
        .any(|&l| l != n)
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
        Ok(())
    }
}
