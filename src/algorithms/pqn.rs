//! Parallel Q-learning (PQN): ε-greedy rollouts of many environments, Q(λ) targets from the
//! behaviour network's own Q-values, no replay and no target network. Recurrent-aware like PPO:
//! carries are kept at rollout start and whole sequences are replayed, minibatched over
//! environments when the network has a carry.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::prelude::*;
use rand::Rng;

use crate::check::ir::{self, ActionSpace};
use crate::envs::{Actions, StepBatch, VecEnv};
use crate::lower;
use crate::runtime::carry::Carry;
use crate::runtime::net::AgentModel;

use super::common::{
    EpisodeStats, Optim, Rng64, argmax, flags, gather_cols, host, permutation, tensor,
};
use super::returns::lambda_returns;
use super::snapshot::{self, CarryData};
use super::{AlgoError, AlgoState, Algorithm, IterStats};

/// PQN hyperparameters.
#[derive(Clone, Debug)]
pub struct PqnConfig {
    /// Parallel environments.
    pub num_envs: usize,
    /// Steps per environment per rollout.
    pub num_steps: usize,
    /// Discount.
    pub gamma: f32,
    /// λ of the Q(λ) targets.
    pub td_lambda: f32,
    /// Minibatches per epoch.
    pub minibatches: usize,
    /// Epochs per rollout.
    pub epochs: usize,
    /// Initial ε.
    pub start_e: f32,
    /// Final ε.
    pub end_e: f32,
    /// Fraction of the run over which ε decays.
    pub exploration_fraction: f64,
}

impl PqnConfig {
    /// From checked hyperparameters.
    pub fn from_args(a: &ir::Args) -> Self {
        let f = |k: &str, d: f64| a.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        PqnConfig {
            num_envs: f("num_envs", 16.0) as usize,
            num_steps: f("num_steps", 128.0) as usize,
            gamma: f("gamma", 0.99) as f32,
            td_lambda: f("td_lambda", 0.95) as f32,
            minibatches: f("minibatches", 4.0) as usize,
            epochs: f("epochs", 4.0) as usize,
            start_e: f("start_e", 1.0) as f32,
            end_e: f("end_e", 0.05) as f32,
            exploration_fraction: f("exploration_fraction", 0.5),
        }
    }
}

/// Everything of a [`Pqn`] beyond model and optimizer that the rest of a run depends on.
#[derive(serde::Serialize, serde::Deserialize)]
struct PqnSnapshot {
    env_steps: u64,
    rng: [u64; 4],
    env: Vec<u8>,
    batch: StepBatch,
    carry: CarryData,
    stats: EpisodeStats,
}

/// PQN bound to an agent.
pub struct Pqn {
    cfg: PqnConfig,
    model: Option<AgentModel>,
    optim: Optim,
    q: (usize, usize),
    env: Box<dyn VecEnv>,
    batch: StepBatch,
    carry: Carry,
    rng: Rng64,
    env_steps: u64,
    total_steps: u64,
    device: Device,
    plain: Device,
    stats: EpisodeStats,
    obs_dim: usize,
    actions: usize,
}

impl Pqn {
    /// Lower the agent and set up its environments.
    pub fn new(agent: &ir::Agent, device: &Device) -> Result<Self, AlgoError> {
        let cfg = PqnConfig::from_args(&agent.hparams);
        let lowered =
            lower::lower_agent(agent, device).map_err(|e| AlgoError::Config(e.to_string()))?;
        let q = lowered
            .head("q")
            .ok_or_else(|| AlgoError::Config("pqn needs a q head".into()))?;
        let mut env = super::common::make_env(&agent.env.id, cfg.num_envs, &lowered.model)?;
        let obs_dim = env.info().obs_dim;
        let actions = match env.info().action {
            ActionSpace::Discrete(n) => n,
            _ => {
                return Err(AlgoError::Config(
                    "pqn needs a discrete action space".into(),
                ));
            }
        };
        let mut batch = StepBatch::new(cfg.num_envs, obs_dim);
        env.reset(agent.train.seed, &mut batch);
        let plain = device.clone().inner();
        let carry = lowered.model.init_carry(q.0, cfg.num_envs, &plain);
        Ok(Pqn {
            optim: Optim::new(&agent.optimizer, &agent.optimizer_args),
            model: Some(lowered.model),
            q,
            env,
            batch,
            carry,
            rng: Rng64::new(agent.train.seed, 3),
            env_steps: 0,
            total_steps: agent.train.steps,
            device: device.clone(),
            plain,
            stats: EpisodeStats::default(),
            obs_dim,
            actions,
            cfg,
        })
    }

    fn epsilon(&self) -> f32 {
        let span = (self.cfg.exploration_fraction * self.total_steps as f64).max(1.0);
        let frac = (self.env_steps as f64 / span).min(1.0) as f32;
        self.cfg.start_e + (self.cfg.end_e - self.cfg.start_e) * frac
    }

    fn q_step(
        &self,
        model: &AgentModel,
        obs: Vec<f32>,
        start: &[bool],
        carry: Carry,
    ) -> (Vec<f32>, Carry) {
        let n = self.cfg.num_envs;
        let x = tensor(obs, [1, n, self.obs_dim], &self.plain);
        let out = model.forward(self.q.0, x, &flags(start, &self.plain), carry);
        (host(out.heads[self.q.1].clone()), out.carry)
    }
}

fn max_row(q: &[f32]) -> f32 {
    q.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
}

impl Algorithm for Pqn {
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError> {
        let (n, t_len, f, na) = (
            self.cfg.num_envs,
            self.cfg.num_steps,
            self.obs_dim,
            self.actions,
        );
        let model = self.model.take().expect("model");
        let valid = model.valid();
        let start_carry = self.carry.clone();
        let (mut obs, mut starts, mut acts, mut rewards, mut dones) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut max_q = Vec::with_capacity(t_len * n);
        for _ in 0..t_len {
            obs.extend_from_slice(&self.batch.obs);
            starts.extend(
                self.batch
                    .start
                    .iter()
                    .map(|&s| if s { 1.0f32 } else { 0.0 }),
            );
            let (q, c) = self.q_step(
                &valid,
                self.batch.obs.clone(),
                &self.batch.start.clone(),
                self.carry.clone(),
            );
            self.carry = c;
            let eps = self.epsilon();
            let a: Vec<u32> = (0..n)
                .map(|i| {
                    max_q.push(max_row(&q[i * na..(i + 1) * na]));
                    if self.rng.random::<f32>() < eps {
                        self.rng.random_range(0..na as u32)
                    } else {
                        argmax(&q[i * na..(i + 1) * na])
                    }
                })
                .collect();
            acts.extend(a.iter().map(|&x| x as f32));
            self.env.step(&Actions::Discrete(a), &mut self.batch);
            self.env_steps += n as u64;
            self.stats.record(&self.batch);
            let mut r = self.batch.reward.clone();
            if self.batch.truncated.iter().any(|&t| t) {
                let zeros = vec![false; n];
                let (qf, _) = self.q_step(
                    &valid,
                    self.batch.final_obs.clone(),
                    &zeros,
                    self.carry.clone(),
                );
                for (i, ri) in r.iter_mut().enumerate() {
                    if self.batch.truncated[i] && !self.batch.terminated[i] {
                        *ri += self.cfg.gamma * max_row(&qf[i * na..(i + 1) * na]);
                    }
                }
            }
            rewards.extend_from_slice(&r);
            dones.extend((0..n).map(|i| self.batch.terminated[i] || self.batch.truncated[i]));
        }
        let (q_last, _) = self.q_step(
            &valid,
            self.batch.obs.clone(),
            &self.batch.start.clone(),
            self.carry.clone(),
        );
        let last: Vec<f32> = (0..n)
            .map(|i| max_row(&q_last[i * na..(i + 1) * na]))
            .collect();
        drop(valid);
        if let Some(e) = self.env.failure() {
            self.model = Some(model);
            return Err(AlgoError::Env(e));
        }
        // next_max_q[t] = max Q(s_{t+1}) from the behaviour network
        let mut next_max = max_q[n..].to_vec();
        next_max.extend_from_slice(&last);
        let targets = lambda_returns(
            &rewards,
            &next_max,
            &dones,
            &last,
            self.cfg.gamma,
            self.cfg.td_lambda,
        );

        let recurrent = start_carry.floats_per_env() > 0;
        let (lt, lb) = if recurrent {
            (t_len, n)
        } else {
            (1, t_len * n)
        };
        let mb = (lb / self.cfg.minibatches.max(1)).max(1);
        let mut model = model;
        let (mut loss_sum, mut count) = (0.0f32, 0.0f32);
        for _ in 0..self.cfg.epochs {
            let perm = permutation(lb, &mut self.rng);
            for cols in perm.chunks(mb) {
                let m = cols.len();
                let dev = &self.device;
                let x = tensor(gather_cols(&obs, lt, lb, f, cols), [lt, m, f], dev);
                let st = if recurrent {
                    tensor(gather_cols(&starts, lt, lb, 1, cols), [lt, m], dev)
                } else {
                    tensor(vec![0.0; m], [1, m], dev)
                };
                let idx = Tensor::<1, Int>::from_data(
                    TensorData::new(cols.iter().map(|&c| c as i64).collect::<Vec<_>>(), [m]),
                    &self.plain,
                );
                let carry = if recurrent {
                    start_carry.clone().select_rows(&idx)
                } else {
                    model.init_carry(self.q.0, m, &self.plain)
                };
                let carry = carry.map(&mut |t| t.autodiff());
                let out = model.forward(self.q.0, x, &st, carry);
                let q = out.heads[self.q.1].clone();
                let a = Tensor::<3, Int>::from_data(
                    TensorData::new(
                        gather_cols(&acts, lt, lb, 1, cols)
                            .iter()
                            .map(|&a| a as i64)
                            .collect::<Vec<_>>(),
                        [lt, m, 1],
                    ),
                    dev,
                );
                let q_sa: Tensor<2> = q.gather(2, a).reshape([lt, m]);
                let y = tensor(gather_cols(&targets, lt, lb, 1, cols), [lt, m], dev);
                let loss = (q_sa - y).square().mean().mul_scalar(0.5);
                let lv = loss.clone().detach().into_scalar::<f32>();
                if !lv.is_finite() {
                    self.model = Some(model);
                    return Err(AlgoError::NonFinite("td_loss".into(), lv, self.env_steps));
                }
                let loss = super::common::with_aux(loss, out.aux);
                let (m2, _) = self.optim.step(model, loss, progress);
                model = m2;
                loss_sum += lv;
                count += 1.0;
            }
        }
        self.model = Some(model);
        let mut scalars = BTreeMap::new();
        scalars.insert("td_loss".into(), loss_sum / count.max(1.0));
        scalars.insert("epsilon".into(), self.epsilon());
        Ok(IterStats {
            env_steps: (n * t_len) as u64,
            episodes: self.stats.take(),
            scalars,
        })
    }
    fn env_steps(&self) -> u64 {
        self.env_steps
    }
    fn steps_per_iteration(&self) -> u64 {
        (self.cfg.num_envs * self.cfg.num_steps) as u64
    }
    fn model(&self) -> &AgentModel {
        self.model.as_ref().expect("model")
    }
    fn policy_head(&self) -> (usize, usize) {
        self.q
    }
    fn state(&self) -> AlgoState {
        let exact = PqnSnapshot {
            env_steps: self.env_steps,
            rng: self.rng.s,
            env: self.env.save_state(),
            batch: self.batch.clone(),
            carry: CarryData::of(&self.carry),
            stats: self.stats.clone(),
        };
        AlgoState {
            optimizer: self.optim.to_bytes(),
            meta: serde_json::json!({ "env_steps": self.env_steps, "rng": self.rng.s }),
            target: None,
            exact: snapshot::encode(&exact),
        }
    }
    fn restore(&mut self, model: AgentModel, state: AlgoState) -> Result<(), String> {
        let snap: PqnSnapshot = snapshot::decode(&state.exact)?;
        snapshot::check_batch(&snap.batch, self.cfg.num_envs, self.obs_dim)?;
        let carry = snap.carry.to_carry(&self.carry, &self.plain)?;
        self.optim.load_bytes(state.optimizer)?;
        self.env.load_state(&snap.env)?;
        self.env_steps = snap.env_steps;
        self.rng.s = snap.rng;
        self.batch = snap.batch;
        self.carry = carry;
        self.stats = snap.stats;
        self.model = Some(model);
        Ok(())
    }
}
