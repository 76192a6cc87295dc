//! R2D2: recurrent replay distributed DQN on one machine.
//!
//! Every vector step is stored with the Q-network's carry *before* the step
//! ([`SequenceReplay`]). A gradient step samples windows of `burn_in + seq_len + n_step` steps
//! (prioritized, starting anywhere unless `episode_starts`), rebuilds the stored carry, runs the
//! first `burn_in` steps without gradients (frozen, detached carry), and trains the next
//! `seq_len` steps on n-step double-Q targets under the value rescaling `h`. The target network
//! runs the *same* window from the *same* stored carry, so online and target streams are aligned
//! step for step (no shifted "next" stream with stale memory). Returns are cut where an episode
//! ends; carry-free networks bootstrap time limits from the stored final observation.
//! Priorities are `η·max|δ| + (1 − η)·mean|δ|` per window; importance weights use the true
//! sampling probabilities with β annealed to 1.

pub mod config;
pub mod targets;

use std::borrow::Cow;

use burn::prelude::*;
use rand::Rng;

use crate::check::ir::{self, ActionSpace};
use crate::envs::{self, Actions, StepBatch, VecEnv};
use crate::lower;
use crate::runtime::carry::Carry;
use crate::runtime::net::AgentModel;

use super::buffers::carry_rows;
use super::buffers::sequence::{
    Layout, Sampling, SequenceReplay, StepRecord, Windows, importance_weights,
};
use super::common::{EpisodeStats, Optim, Rng64, argmax, flags, host, tensor};
use super::dqn::update_target_if_due;
use super::snapshot::{self, CarryData};
use super::{AlgoError, AlgoState, Algorithm, IterStats};
pub use config::R2d2Config;

/// Everything of an [`R2d2`] beyond models and optimizer that the rest of a run depends on.
/// Saving borrows the replay buffer (no copy); loading owns it.
#[derive(serde::Serialize, serde::Deserialize)]
struct R2d2Snapshot<'a> {
    env_steps: u64,
    rng: [u64; 4],
    last_target_update: u64,
    env: Vec<u8>,
    batch: Cow<'a, StepBatch>,
    carry: CarryData,
    replay: Cow<'a, SequenceReplay>,
    stats: Cow<'a, EpisodeStats>,
}

/// R2D2 bound to an agent.
pub struct R2d2 {
    cfg: R2d2Config,
    model: Option<AgentModel>,
    target: AgentModel,
    optim: Optim,
    q: (usize, usize),
    env: Box<dyn VecEnv>,
    batch: StepBatch,
    carry: Carry,
    replay: SequenceReplay,
    rng: Rng64,
    env_steps: u64,
    total_steps: u64,
    device: Device,
    plain: Device,
    stats: EpisodeStats,
    obs_dim: usize,
    actions: usize,
    recurrent: bool,
    last_target_update: u64,
    grad_steps_per_iter: u64,
}

/// Losses of one gradient step.
struct StepOut {
    loss: f32,
    q_mean: f32,
    priority: f32,
}

impl R2d2 {
    /// Lower the agent and set up its environments and replay.
    pub fn new(agent: &ir::Agent, device: &Device) -> Result<Self, AlgoError> {
        let cfg = R2d2Config::from_args(&agent.hparams);
        let lowered =
            lower::lower_agent(agent, device).map_err(|e| AlgoError::Config(e.to_string()))?;
        let q = lowered
            .head("q")
            .ok_or_else(|| AlgoError::Config("r2d2 needs a q head".into()))?;
        let mut env = envs::make(&agent.env.id, cfg.num_envs)
            .ok_or_else(|| AlgoError::Config(format!("no environment `{}`", agent.env.id)))?;
        let obs_dim = env.info().obs_dim;
        let ActionSpace::Discrete(actions) = env.info().action else {
            return Err(AlgoError::Config(
                "r2d2 needs a discrete action space".into(),
            ));
        };
        let row_cap = cfg.buffer_size / cfg.num_envs.max(1);
        if row_cap < cfg.window() {
            return Err(AlgoError::Config(format!(
                "buffer_size / num_envs = {row_cap} steps per environment cannot hold a window of {}",
                cfg.window()
            )));
        }
        let mut batch = StepBatch::new(cfg.num_envs, obs_dim);
        env.reset(agent.train.seed, &mut batch);
        let plain = device.clone().inner();
        let model = lowered.model;
        let carry = model.valid().init_carry(q.0, cfg.num_envs, &plain);
        let layout = Layout {
            rows: cfg.num_envs,
            row_cap,
            window: cfg.window(),
            obs_dim,
            act_dim: 1,
            carry_dim: carry.floats_per_env(),
        };
        let sampling = Sampling {
            prioritized: cfg.prioritized,
            alpha: cfg.priority_exponent,
            episode_starts: cfg.episode_starts,
        };
        let grad_steps_per_iter =
            (1000 / cfg.train_frequency.max(cfg.num_envs as u64)).clamp(1, 50);
        Ok(R2d2 {
            replay: SequenceReplay::new(layout, sampling),
            recurrent: carry.floats_per_env() > 0,
            optim: Optim::new(&agent.optimizer, &agent.optimizer_args),
            target: model.valid(),
            model: Some(model),
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
            last_target_update: 0,
            grad_steps_per_iter,
            cfg,
        })
    }

    /// One ε-greedy vector step, stored with the carry the network had before it.
    fn act_and_store(&mut self, model: &AgentModel) {
        let (n, d, na) = (self.cfg.num_envs, self.obs_dim, self.actions);
        let eps = self.cfg.epsilon(self.env_steps, self.total_steps);
        let pre = carry_rows::to_rows(&self.carry, n);
        let x = tensor(self.batch.obs.clone(), [1, n, d], &self.plain);
        let start = flags(&self.batch.start, &self.plain);
        let out = model.forward(self.q.0, x, &start, self.carry.clone());
        self.carry = out.carry;
        let q = host(out.heads[self.q.1].clone());
        let acts: Vec<u32> = (0..n)
            .map(|i| {
                if self.rng.random::<f32>() < eps {
                    self.rng.random_range(0..na as u32)
                } else {
                    argmax(&q[i * na..(i + 1) * na])
                }
            })
            .collect();
        let obs = self.batch.obs.clone();
        let start = self.batch.start.clone();
        self.env
            .step(&Actions::Discrete(acts.clone()), &mut self.batch);
        self.env_steps += n as u64;
        self.stats.record(&self.batch);
        let mut next = self.batch.obs.clone();
        for i in 0..n {
            if self.batch.terminated[i] || self.batch.truncated[i] {
                next[i * d..(i + 1) * d].copy_from_slice(&self.batch.final_obs[i * d..(i + 1) * d]);
            }
        }
        let a: Vec<f32> = acts.iter().map(|&a| a as f32).collect();
        self.replay.push(&StepRecord {
            obs: &obs,
            next_obs: &next,
            actions: &a,
            reward: &self.batch.reward,
            terminated: &self.batch.terminated,
            truncated: &self.batch.truncated,
            start: &start,
            carry: &pre,
        });
    }

    /// Value of the greedy (double-Q: online-chosen) action at each `[T, B]` position, raw scale.
    fn boot_values(&self, target_q: &[f32], online_q: Option<&[f32]>) -> Vec<f32> {
        let na = self.actions;
        (0..target_q.len() / na)
            .map(|i| {
                let tq = &target_q[i * na..(i + 1) * na];
                let a = match online_q {
                    Some(o) if self.cfg.double => argmax(&o[i * na..(i + 1) * na]),
                    _ => argmax(tq),
                };
                let v = tq[a as usize];
                if self.cfg.value_rescaling {
                    targets::h_inv(v)
                } else {
                    v
                }
            })
            .collect()
    }

    /// Q-values of `model` over `[w, b]` observations from `carry`.
    fn q_seq(
        &self,
        model: &AgentModel,
        obs: &[f32],
        start: &[bool],
        w: usize,
        carry: Carry,
    ) -> (Vec<f32>, Carry) {
        let b = start.len() / w;
        let x = tensor(obs.to_vec(), [w, b, self.obs_dim], &self.plain);
        let s = start.iter().map(|&s| s as u8 as f32).collect();
        let out = model.forward(self.q.0, x, &tensor(s, [w, b], &self.plain), carry);
        (host(out.heads[self.q.1].clone()), out.carry)
    }

    fn train_step(&mut self, progress: f64) -> Result<Option<StepOut>, AlgoError> {
        let Some(win) = self.replay.sample(self.cfg.batch_size, &mut self.rng) else {
            return Ok(None);
        };
        let (bs, d, na) = (self.cfg.batch_size, self.obs_dim, self.actions);
        let (w, burn, len) = (self.cfg.window(), self.cfg.burn_in, self.cfg.seq_len);
        let valid = self.model.as_ref().expect("model").valid();
        let like = valid.init_carry(self.q.0, bs, &self.plain);
        let carry0 = carry_rows::from_rows(&like, &win.carry, bs, &self.plain);
        // target stream: the whole window from the stored carry
        let (tq, _) = self.q_seq(&self.target, &win.obs, &win.start, w, carry0.clone());
        // burn-in: frozen parameters, detached carry
        let carry_b = if burn > 0 {
            self.q_seq(
                &valid,
                &win.obs[..burn * bs * d],
                &win.start[..burn * bs],
                burn,
                carry0,
            )
            .1
        } else {
            carry0
        };
        let targets = self.targets(&win, &tq, &valid, burn);
        drop(valid);
        let model = self.model.take().expect("model");
        let dev = &self.device;
        let tw = w - burn;
        let x = tensor(win.obs[burn * bs * d..].to_vec(), [tw, bs, d], dev);
        let s = win.start[burn * bs..]
            .iter()
            .map(|&s| s as u8 as f32)
            .collect();
        let out = model.forward(
            self.q.0,
            x,
            &tensor(s, [tw, bs], dev),
            carry_b.detach().to_device(dev),
        );
        let q_all = out.heads[self.q.1].clone();
        let q: Tensor<2> = q_all.slice([0..len, 0..bs, 0..na]).reshape([len * bs, na]);
        let acts: Vec<i64> = win.actions[burn * bs..(burn + len) * bs]
            .iter()
            .map(|&a| a as i64)
            .collect();
        let a = Tensor::<2, Int>::from_data(TensorData::new(acts, [len * bs, 1]), dev);
        let q_sa: Tensor<1> = q.gather(1, a).reshape([len * bs]);
        let y = tensor(targets.clone(), [len * bs], dev);
        let td = q_sa.clone() - y;
        let is_w = importance_weights(&win.probs, win.valid, self.cfg.beta(progress));
        let wv: Vec<f32> = (0..len).flat_map(|_| is_w.iter().copied()).collect();
        let loss = (td.clone().square() * tensor(wv, [len * bs], dev))
            .mean()
            .mul_scalar(0.5);
        let loss_v = loss.clone().detach().into_scalar::<f32>();
        let q_mean = q_sa.detach().mean().into_scalar::<f32>();
        if !loss_v.is_finite() {
            self.model = Some(model);
            return Err(AlgoError::NonFinite(
                "td_loss".into(),
                loss_v,
                self.env_steps,
            ));
        }
        let td = host(td.detach());
        let eta = self.cfg.priority_mix;
        let pr: Vec<f64> = (0..bs)
            .map(|j| {
                let abs: Vec<f64> = (0..len).map(|t| td[t * bs + j].abs() as f64).collect();
                let max = abs.iter().cloned().fold(0.0, f64::max);
                let mean = abs.iter().sum::<f64>() / len as f64;
                eta * max + (1.0 - eta) * mean
            })
            .collect();
        self.replay.set_priorities(&win.slots, &pr);
        let (model, _norm) = self.optim.step(model, loss, progress);
        self.model = Some(model);
        Ok(Some(StepOut {
            loss: loss_v,
            q_mean,
            priority: (pr.iter().sum::<f64>() / bs as f64) as f32,
        }))
    }

    /// Rescaled n-step double-Q targets for the trained positions, `[seq_len, B]`.
    fn targets(&self, win: &Windows, tq: &[f32], valid: &AgentModel, burn: usize) -> Vec<f32> {
        let (bs, w) = (self.cfg.batch_size, self.cfg.window());
        let online = if self.cfg.double {
            let like = valid.init_carry(self.q.0, bs, &self.plain);
            let c = carry_rows::from_rows(&like, &win.carry, bs, &self.plain);
            Some(self.q_seq(valid, &win.obs, &win.start, w, c).0)
        } else {
            None
        };
        let value = self.boot_values(tq, online.as_deref());
        let done: Vec<bool> = (0..w * bs)
            .map(|i| win.terminated[i] || win.truncated[i])
            .collect();
        // carry-free networks bootstrap time limits from the stored final observation
        let end_value: Vec<Option<f32>> = if self.recurrent {
            vec![None; w * bs]
        } else {
            let fresh = |m: &AgentModel| m.init_carry(self.q.0, bs, &self.plain);
            let (tn, _) = self.q_seq(
                &self.target,
                &win.next_obs,
                &win.start,
                w,
                fresh(&self.target),
            );
            let on = if self.cfg.double {
                Some(
                    self.q_seq(valid, &win.next_obs, &win.start, w, fresh(valid))
                        .0,
                )
            } else {
                None
            };
            let v = self.boot_values(&tn, on.as_deref());
            (0..w * bs)
                .map(|i| (win.truncated[i] && !win.terminated[i]).then_some(v[i]))
                .collect()
        };
        let g = targets::n_step(
            &targets::Window {
                batch: bs,
                reward: &win.reward,
                done: &done,
                value: &value,
                end_value: &end_value,
            },
            burn,
            self.cfg.seq_len,
            self.cfg.n_step,
            self.cfg.gamma,
        );
        if self.cfg.value_rescaling {
            g.into_iter().map(targets::h).collect()
        } else {
            g
        }
    }
}

impl Algorithm for R2d2 {
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError> {
        let before = self.env_steps;
        let (mut loss, mut qm, mut pm, mut count) = (0.0, 0.0, 0.0, 0u32);
        let vec_steps =
            super::common::vector_steps_per_round(self.cfg.train_frequency, self.cfg.num_envs);
        for _ in 0..self.grad_steps_per_iter {
            let valid = self.model.as_ref().expect("model").valid();
            for _ in 0..vec_steps {
                self.act_and_store(&valid);
            }
            drop(valid);
            if self.env_steps >= self.cfg.learning_starts
                && let Some(o) = self.train_step(progress)?
            {
                loss += o.loss;
                qm += o.q_mean;
                pm += o.priority;
                count += 1;
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
        let mut scalars = std::collections::BTreeMap::new();
        if count > 0 {
            let c = count as f32;
            scalars.insert("td_loss".into(), loss / c);
            scalars.insert("q_mean".into(), qm / c);
            scalars.insert("priority_mean".into(), pm / c);
        }
        scalars.insert(
            "epsilon".into(),
            self.cfg.epsilon(self.env_steps, self.total_steps),
        );
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
        self.grad_steps_per_iter
            * super::common::vector_steps_per_round(self.cfg.train_frequency, self.cfg.num_envs)
            * self.cfg.num_envs as u64
    }
    fn model(&self) -> &AgentModel {
        self.model.as_ref().expect("model")
    }
    fn policy_head(&self) -> (usize, usize) {
        self.q
    }
    fn state(&self) -> AlgoState {
        let exact = R2d2Snapshot {
            env_steps: self.env_steps,
            rng: self.rng.s,
            last_target_update: self.last_target_update,
            env: self.env.save_state(),
            batch: Cow::Borrowed(&self.batch),
            carry: CarryData::of(&self.carry),
            replay: Cow::Borrowed(&self.replay),
            stats: Cow::Borrowed(&self.stats),
        };
        AlgoState {
            optimizer: self.optim.to_bytes(),
            meta: serde_json::json!({
                "env_steps": self.env_steps,
                "rng": self.rng.s,
                "last_target_update": self.last_target_update,
            }),
            target: Some(self.target.clone()),
            exact: snapshot::encode(&exact),
        }
    }
    fn restore(&mut self, model: AgentModel, state: AlgoState) -> Result<(), String> {
        let snap: R2d2Snapshot<'static> = snapshot::decode(&state.exact)?;
        snapshot::check_batch(&snap.batch, self.cfg.num_envs, self.obs_dim)?;
        if !snap.replay.fits(self.replay.layout()) {
            return Err("stored replay buffer does not fit this agent".into());
        }
        let carry = snap.carry.to_carry(&self.carry, &self.plain)?;
        let target = state.target.ok_or("checkpoint lacks the target network")?;
        self.optim.load_bytes(state.optimizer)?;
        self.env.load_state(&snap.env)?;
        self.env_steps = snap.env_steps;
        self.rng.s = snap.rng;
        self.last_target_update = snap.last_target_update;
        self.batch = snap.batch.into_owned();
        self.carry = carry;
        self.replay = snap.replay.into_owned();
        self.stats = snap.stats.into_owned();
        self.target = target;
        self.model = Some(model);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
