//! Soft actor-critic, continuous (tanh-squashed Gaussian) and discrete (categorical), with twin
//! Q critics, Polyak-averaged target critics and entropy auto-tuning.
//!
//! Experience goes to a [`SequenceReplay`] with the actor's and the critic's carries before each
//! step. Carry-free networks train on single transitions (bootstrapping time limits from the
//! true final observation). Recurrent networks train on windows of `burn_in + seq_len + 1`
//! steps replayed from the stored carries: burn-in without gradients, then `seq_len` trained
//! steps, each bootstrapping from the next step of the *same* stream (returns cut where an
//! episode ends). For a recurrent continuous critic the streams that evaluate policy actions
//! feed those actions at every trained step (the stored actions only drive burn-in and the
//! critic's own loss). Actor and critic are separate networks with their own optimizers (both
//! built from the agent's `optimizer` slot); α is tuned by Adam on the host.

pub mod config;
pub mod policy;
mod update;

use std::borrow::Cow;

use burn::prelude::*;
use rand::Rng;

use crate::check::ir::{self, ActionSpace};
use crate::envs::{self, Actions, StepBatch, VecEnv};
use crate::lower;
use crate::runtime::carry::Carry;
use crate::runtime::net::AgentModel;

use super::buffers::carry_rows;
use super::buffers::sequence::{Layout, Sampling, SequenceReplay, StepRecord};
use super::common::{EpisodeStats, Optim, Rng64, flags, host, tensor};
use super::dqn::update_target_if_due;
use super::snapshot::{self, CarryData};
use super::{AlgoError, AlgoState, Algorithm, IterStats};
pub use config::{SacConfig, Temperature};
use policy::Squash;

/// Everything of a [`Sac`] beyond models and actor optimizer that the rest of a run depends on.
/// Saving borrows the replay buffer (no copy); loading owns it.
#[derive(serde::Serialize, serde::Deserialize)]
struct SacSnapshot<'a> {
    env_steps: u64,
    rng: [u64; 4],
    last_target_update: u64,
    env: Vec<u8>,
    batch: Cow<'a, StepBatch>,
    actor_carry: CarryData,
    critic_carry: CarryData,
    replay: Cow<'a, SequenceReplay>,
    stats: Cow<'a, EpisodeStats>,
    temperature: Temperature,
    critic_optimizer: Vec<u8>,
}

/// SAC bound to an agent.
pub struct Sac {
    cfg: SacConfig,
    model: Option<AgentModel>,
    target: AgentModel,
    actor_opt: Optim,
    critic_opt: Optim,
    temp: Temperature,
    actor: (usize, usize),
    critic: (usize, usize),
    env: Box<dyn VecEnv>,
    batch: StepBatch,
    actor_carry: Carry,
    critic_carry: Carry,
    replay: SequenceReplay,
    rng: Rng64,
    env_steps: u64,
    device: Device,
    plain: Device,
    stats: EpisodeStats,
    obs_dim: usize,
    /// Number of discrete actions, or action dimensions.
    actions: usize,
    squash: Option<Squash>,
    recurrent: bool,
    target_entropy: f32,
    last_target_update: u64,
    rounds_per_iter: u64,
}

impl Sac {
    /// Lower the agent and set up its environments and replay.
    pub fn new(agent: &ir::Agent, device: &Device) -> Result<Self, AlgoError> {
        let cfg = SacConfig::from_args(&agent.hparams);
        let lowered =
            lower::lower_agent(agent, device).map_err(|e| AlgoError::Config(e.to_string()))?;
        let actor = lowered
            .head("actor")
            .ok_or_else(|| AlgoError::Config("sac needs an actor head".into()))?;
        let critic = lowered
            .head("critic")
            .ok_or_else(|| AlgoError::Config("sac needs a critic head".into()))?;
        if actor.0 == critic.0 {
            return Err(AlgoError::Config(
                "sac needs separate actor and critic networks".into(),
            ));
        }
        let mut env = envs::make(&agent.env.id, cfg.num_envs)
            .ok_or_else(|| AlgoError::Config(format!("no environment `{}`", agent.env.id)))?;
        let obs_dim = env.info().obs_dim;
        let (actions, squash, act_dim) = match &env.info().action {
            ActionSpace::Discrete(n) => (*n, None, 1),
            ActionSpace::Box { dim, low, high } => (
                *dim,
                Some(Squash {
                    low: low.clone(),
                    high: high.clone(),
                }),
                *dim,
            ),
        };
        let mut batch = StepBatch::new(cfg.num_envs, obs_dim);
        env.reset(agent.train.seed, &mut batch);
        let plain = device.clone().inner();
        let model = lowered.model;
        let valid = model.valid();
        let actor_carry = valid.init_carry(actor.0, cfg.num_envs, &plain);
        let critic_carry = valid.init_carry(critic.0, cfg.num_envs, &plain);
        let carry_dim = actor_carry.floats_per_env() + critic_carry.floats_per_env();
        let recurrent = carry_dim > 0;
        let window = if recurrent {
            cfg.burn_in + cfg.seq_len + 1
        } else {
            1
        };
        let row_cap = cfg.buffer_size / cfg.num_envs.max(1);
        if row_cap < window {
            return Err(AlgoError::Config(format!(
                "buffer_size / num_envs = {row_cap} steps per environment cannot hold a window of {window}"
            )));
        }
        let layout = Layout {
            rows: cfg.num_envs,
            row_cap,
            window,
            obs_dim,
            act_dim,
            carry_dim,
        };
        let sampling = Sampling {
            prioritized: false,
            alpha: 1.0,
            episode_starts: false,
        };
        let per_round = cfg.train_frequency.max(cfg.num_envs as u64);
        Ok(Sac {
            replay: SequenceReplay::new(layout, sampling),
            actor_opt: Optim::new(&agent.optimizer, &agent.optimizer_args),
            critic_opt: Optim::new(&agent.optimizer, &agent.optimizer_args),
            temp: Temperature::new(cfg.initial_alpha),
            target_entropy: cfg.target_entropy(squash.is_none(), actions),
            target: valid,
            model: Some(model),
            actor,
            critic,
            env,
            batch,
            actor_carry,
            critic_carry,
            rng: Rng64::new(agent.train.seed, 4),
            env_steps: 0,
            device: device.clone(),
            plain,
            stats: EpisodeStats::default(),
            obs_dim,
            actions,
            squash,
            recurrent,
            last_target_update: 0,
            rounds_per_iter: (500 / per_round).max(1),
            cfg,
        })
    }

    /// Width of a stored action.
    fn act_dim(&self) -> usize {
        if self.squash.is_some() {
            self.actions
        } else {
            1
        }
    }

    /// Critic input: observations, with the (squashed) actions appended when continuous.
    fn critic_input(&self, obs: Tensor<3>, act: Option<Tensor<3>>) -> Tensor<3> {
        match (self.squash.is_some(), act) {
            (true, Some(a)) => Tensor::cat(vec![obs, a], 2),
            _ => obs,
        }
    }

    /// One vector step with the stochastic policy (uniform before `learning_starts`), stored
    /// with both networks' carries before the step.
    fn act_and_store(&mut self, model: &AgentModel) {
        let (n, d, aw) = (self.cfg.num_envs, self.obs_dim, self.act_dim());
        let mut pre = carry_rows::to_rows(&self.actor_carry, n);
        let pre_c = carry_rows::to_rows(&self.critic_carry, n);
        let (ca, cc) = (
            self.actor_carry.floats_per_env(),
            self.critic_carry.floats_per_env(),
        );
        let mut rows = Vec::with_capacity(n * (ca + cc));
        for i in 0..n {
            rows.extend_from_slice(&pre[i * ca..(i + 1) * ca]);
            rows.extend_from_slice(&pre_c[i * cc..(i + 1) * cc]);
        }
        pre = rows;
        let x = tensor(self.batch.obs.clone(), [1, n, d], &self.plain);
        let start = flags(&self.batch.start, &self.plain);
        let out = model.forward(self.actor.0, x.clone(), &start, self.actor_carry.clone());
        self.actor_carry = out.carry;
        let head = host(out.heads[self.actor.1].clone());
        let random = self.env_steps < self.cfg.learning_starts;
        let acts: Vec<f32> = match (&self.squash, random) {
            (Some(_), true) => (0..n * aw)
                .map(|_| self.rng.random_range(-1.0f32..1.0))
                .collect(),
            (None, true) => (0..n)
                .map(|_| self.rng.random_range(0..self.actions) as f32)
                .collect(),
            (Some(_), false) => {
                let ls = host(
                    model.nets[self.actor.0].heads[self.actor.1]
                        .log_std()
                        .expect("gaussian head"),
                );
                policy::sample_squashed(&head, &ls, &mut self.rng)
            }
            (None, false) => policy::sample_discrete(&head, self.actions, &mut self.rng),
        };
        if cc > 0 {
            let a = tensor(acts.clone(), [1, n, aw], &self.plain);
            let xc = self.critic_input(x, Some(a));
            let c = model.forward(self.critic.0, xc, &start, self.critic_carry.clone());
            self.critic_carry = c.carry;
        }
        let env_actions = match &self.squash {
            Some(s) => Actions::Continuous(
                acts.iter()
                    .enumerate()
                    .map(|(i, &a)| s.to_env(a, i % aw))
                    .collect(),
            ),
            None => Actions::Discrete(acts.iter().map(|&a| a as u32).collect()),
        };
        let obs = self.batch.obs.clone();
        let start = self.batch.start.clone();
        self.env.step(&env_actions, &mut self.batch);
        self.env_steps += n as u64;
        self.stats.record(&self.batch);
        let mut next = self.batch.obs.clone();
        for i in 0..n {
            if self.batch.terminated[i] || self.batch.truncated[i] {
                next[i * d..(i + 1) * d].copy_from_slice(&self.batch.final_obs[i * d..(i + 1) * d]);
            }
        }
        self.replay.push(&StepRecord {
            obs: &obs,
            next_obs: &next,
            actions: &acts,
            reward: &self.batch.reward,
            terminated: &self.batch.terminated,
            truncated: &self.batch.truncated,
            start: &start,
            carry: &pre,
        });
    }
}

impl Algorithm for Sac {
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError> {
        let before = self.env_steps;
        let mut sums: std::collections::BTreeMap<String, (f32, u32)> = Default::default();
        let vec_steps =
            super::common::vector_steps_per_round(self.cfg.train_frequency, self.cfg.num_envs);
        for _ in 0..self.rounds_per_iter {
            let valid = self.model.as_ref().expect("model").valid();
            for _ in 0..vec_steps {
                self.act_and_store(&valid);
            }
            drop(valid);
            if self.env_steps >= self.cfg.learning_starts {
                for _ in 0..self.cfg.gradient_steps {
                    if let Some(out) = self.update(progress)? {
                        for (k, v) in out {
                            let e = sums.entry(k).or_insert((0.0, 0));
                            *e = (e.0 + v, e.1 + 1);
                        }
                    }
                }
            }
            update_target_if_due(
                &mut self.target,
                self.model.as_ref().expect("model"),
                self.cfg.tau,
                self.env_steps,
                &mut self.last_target_update,
                self.cfg.target_network_frequency,
            );
        }
        let mut scalars: std::collections::BTreeMap<String, f32> = sums
            .into_iter()
            .map(|(k, (s, c))| (k, s / c.max(1) as f32))
            .collect();
        scalars.insert("alpha".into(), self.temp.alpha());
        Ok(IterStats {
            env_steps: self.env_steps - before,
            episodes: self.stats.take(),
            scalars,
        })
    }
    fn env_steps(&self) -> u64 {
        self.env_steps
    }
    fn steps_per_iteration(&self) -> u64 {
        self.rounds_per_iter
            * super::common::vector_steps_per_round(self.cfg.train_frequency, self.cfg.num_envs)
            * self.cfg.num_envs as u64
    }
    fn model(&self) -> &AgentModel {
        self.model.as_ref().expect("model")
    }
    fn policy_head(&self) -> (usize, usize) {
        self.actor
    }
    fn state(&self) -> AlgoState {
        let exact = SacSnapshot {
            env_steps: self.env_steps,
            rng: self.rng.s,
            last_target_update: self.last_target_update,
            env: self.env.save_state(),
            batch: Cow::Borrowed(&self.batch),
            actor_carry: CarryData::of(&self.actor_carry),
            critic_carry: CarryData::of(&self.critic_carry),
            replay: Cow::Borrowed(&self.replay),
            stats: Cow::Borrowed(&self.stats),
            temperature: self.temp.clone(),
            critic_optimizer: self.critic_opt.to_bytes(),
        };
        AlgoState {
            optimizer: self.actor_opt.to_bytes(),
            meta: serde_json::json!({
                "env_steps": self.env_steps,
                "rng": self.rng.s,
                "last_target_update": self.last_target_update,
                "alpha": self.temp.alpha(),
            }),
            target: Some(self.target.clone()),
            exact: snapshot::encode(&exact),
        }
    }
    fn restore(&mut self, model: AgentModel, state: AlgoState) -> Result<(), String> {
        let snap: SacSnapshot<'static> = snapshot::decode(&state.exact)?;
        snapshot::check_batch(&snap.batch, self.cfg.num_envs, self.obs_dim)?;
        if !snap.replay.fits(self.replay.layout()) {
            return Err("stored replay buffer does not fit this agent".into());
        }
        let actor_carry = snap.actor_carry.to_carry(&self.actor_carry, &self.plain)?;
        let critic_carry = snap
            .critic_carry
            .to_carry(&self.critic_carry, &self.plain)?;
        let target = state.target.ok_or("checkpoint lacks the target network")?;
        self.actor_opt.load_bytes(state.optimizer)?;
        self.critic_opt.load_bytes(snap.critic_optimizer)?;
        self.env.load_state(&snap.env)?;
        self.env_steps = snap.env_steps;
        self.rng.s = snap.rng;
        self.last_target_update = snap.last_target_update;
        self.batch = snap.batch.into_owned();
        self.actor_carry = actor_carry;
        self.critic_carry = critic_carry;
        self.replay = snap.replay.into_owned();
        self.stats = snap.stats.into_owned();
        self.temp = snap.temperature;
        self.target = target;
        self.model = Some(model);
        Ok(())
    }
}
