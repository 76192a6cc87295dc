//! Deep Q-learning with uniform transition replay, ε-greedy exploration and a target network.
//!
//! Counting is in environment steps: one gradient step every `train_frequency` env steps once
//! `learning_starts` steps were taken; the target network moves towards the online network by
//! `tau` every `target_network_frequency` env steps (`tau = 1` is a hard copy). Truncated
//! episodes bootstrap from the true last observation; terminated ones do not.

use std::borrow::Cow;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::check::ir::{self, ActionSpace};
use crate::envs::{Actions, StepBatch, VecEnv};
use crate::lower;
use crate::runtime::fused::chain::DenseChain;
use crate::runtime::fused::fork::Fork;
use crate::runtime::net::AgentModel;

pub use super::buffers::transition::Replay;
use super::common::{EpisodeStats, Optim, Rng64, argmax, host, tensor};
use super::snapshot;
use super::{AlgoError, AlgoState, Algorithm, IterStats};
use rand::Rng;

/// DQN hyperparameters (SPEC §7 names).
#[derive(Clone, Debug)]
pub struct DqnConfig {
    /// Parallel environments.
    pub num_envs: usize,
    /// Replay capacity in transitions.
    pub buffer_size: usize,
    /// Transitions per gradient step.
    pub batch_size: usize,
    /// Discount.
    pub gamma: f32,
    /// Target update rate.
    pub tau: f32,
    /// Env steps between target updates.
    pub target_network_frequency: u64,
    /// Initial ε.
    pub start_e: f32,
    /// Final ε.
    pub end_e: f32,
    /// Fraction of the run over which ε decays.
    pub exploration_fraction: f64,
    /// Env steps between gradient steps.
    pub train_frequency: u64,
    /// Env steps before learning starts.
    pub learning_starts: u64,
    /// Double Q-learning targets.
    pub double: bool,
}

impl DqnConfig {
    /// From checked hyperparameters.
    pub fn from_args(a: &ir::Args) -> Self {
        let f = |k: &str, d: f64| a.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        let batch_size = f("batch_size", 64.0) as usize;
        DqnConfig {
            num_envs: f("num_envs", 10.0) as usize,
            buffer_size: f("buffer_size", 10_000.0) as usize,
            batch_size,
            gamma: f("gamma", 0.99) as f32,
            tau: f("tau", 1.0) as f32,
            target_network_frequency: f("target_network_frequency", 500.0) as u64,
            start_e: f("start_e", 1.0) as f32,
            end_e: f("end_e", 0.05) as f32,
            exploration_fraction: f("exploration_fraction", 0.5),
            train_frequency: f("train_frequency", 10.0) as u64,
            learning_starts: f("learning_starts", batch_size as f64) as u64,
            double: a
                .get("double")
                .and_then(ir::Value::as_bool)
                .unwrap_or(false),
        }
    }

    /// ε after `step` of `total` env steps: `start_e` until `learning_starts`, then a linear decay
    /// over `exploration_fraction · total` steps, then `end_e`.
    pub fn epsilon(&self, step: u64, total: u64) -> f32 {
        let span = (self.exploration_fraction * total as f64).max(1.0);
        let frac = (step.saturating_sub(self.learning_starts) as f64 / span).min(1.0) as f32;
        self.start_e + (self.end_e - self.start_e) * frac
    }
}

/// Everything of a [`Dqn`] beyond models and optimizer that the rest of a run depends on.
/// Saving borrows the replay buffer (no copy); loading owns it.
#[derive(serde::Serialize, serde::Deserialize)]
struct DqnSnapshot<'a> {
    env_steps: u64,
    rng: [u64; 4],
    last_target_update: u64,
    env: Vec<u8>,
    batch: Cow<'a, StepBatch>,
    replay: Cow<'a, Replay>,
    stats: Cow<'a, EpisodeStats>,
}

/// DQN bound to an agent.
pub struct Dqn {
    cfg: DqnConfig,
    model: Option<AgentModel>,
    target: AgentModel,
    optim: Optim,
    q: (usize, usize),
    env: Box<dyn VecEnv>,
    batch: StepBatch,
    replay: Replay,
    rng: Rng64,
    env_steps: u64,
    total_steps: u64,
    device: Device,
    plain: Device,
    stats: EpisodeStats,
    obs_dim: usize,
    actions: usize,
    last_target_update: u64,
    grad_steps_per_iter: u64,
    /// Whether a Q network that is a dense chain runs as one on the host (false only in the test
    /// that compares it with the autodiff path).
    host_chain: bool,
    /// What evaluates the target network, built once per target update.
    target_eval: Option<QNet>,
    /// The online Q network held on the host while the host path trains it: then the source of
    /// truth, written back into `model` by [`Dqn::sync`] (at the end of each iteration, also one
    /// that failed, and before a target update).
    online: Option<DenseChain>,
    /// Whether `online` has steps that `model` lacks.
    stale: bool,
    /// The helper thread that the host path splits each gradient step with.
    fork: Option<Fork>,
}

impl Dqn {
    /// Lower the agent and set up its environments and replay.
    pub fn new(agent: &ir::Agent, device: &Device) -> Result<Self, AlgoError> {
        let cfg = DqnConfig::from_args(&agent.hparams);
        let lowered =
            lower::lower_agent(agent, device).map_err(|e| AlgoError::Config(e.to_string()))?;
        let q = lowered
            .head("q")
            .ok_or_else(|| AlgoError::Config("dqn needs a q head".into()))?;
        let mut env = super::common::make_env(&agent.env.id, cfg.num_envs, &lowered.model)?;
        let obs_dim = env.info().obs_dim;
        let actions = match env.info().action {
            ActionSpace::Discrete(n) => n,
            _ => {
                return Err(AlgoError::Config(
                    "dqn needs a discrete action space".into(),
                ));
            }
        };
        let mut batch = StepBatch::new(cfg.num_envs, obs_dim);
        env.reset(agent.train.seed, &mut batch);
        let model = lowered.model;
        let target = model.valid();
        let grad_steps_per_iter = 50;
        Ok(Dqn {
            replay: Replay::new(cfg.buffer_size, obs_dim),
            optim: Optim::new(&agent.optimizer, &agent.optimizer_args),
            model: Some(model),
            target,
            q,
            env,
            batch,
            rng: Rng64::new(agent.train.seed, 2),
            env_steps: 0,
            total_steps: agent.train.steps,
            device: device.clone(),
            plain: device.clone().inner(),
            stats: EpisodeStats::default(),
            obs_dim,
            actions,
            last_target_update: 0,
            grad_steps_per_iter,
            host_chain: true,
            target_eval: None,
            online: None,
            stale: false,
            fork: Fork::new(),
            cfg,
        })
    }

    /// The Q network of `model` as a host dense chain, where it is one (see
    /// [`AgentModel::dense_layers`]).
    fn chain_of(&self, model: &AgentModel) -> Option<DenseChain> {
        if !self.host_chain {
            return None;
        }
        let layers = model.dense_layers(self.q.0, self.q.1)?;
        DenseChain::new(&layers).filter(|c| c.inputs() == self.obs_dim)
    }

    /// What evaluates `model`'s Q-values: its host chain, or else a copy off the autodiff device.
    fn evaluator(&self, model: &AgentModel) -> QNet {
        match self.chain_of(model) {
            Some(c) => QNet::Chain(c),
            None => QNet::Model(model.valid()),
        }
    }

    fn q_values(&self, net: &QNet, obs: &[f32], rows: usize) -> Vec<f32> {
        let model = match net {
            QNet::Chain(c) => return c.forward(obs.to_vec(), rows),
            QNet::Online => {
                let online = self.online.as_ref().expect("host-held online network");
                return online.forward(obs.to_vec(), rows);
            }
            QNet::Model(m) => m,
        };
        let x = tensor(obs.to_vec(), [1, rows, self.obs_dim], &self.plain);
        let start = tensor(vec![0.0; rows], [1, rows], &self.plain);
        let carry = model.init_carry(self.q.0, rows, &self.plain);
        host(model.forward(self.q.0, x, &start, carry).heads[self.q.1].clone())
    }

    fn act_and_store(&mut self, net: &QNet) {
        let n = self.cfg.num_envs;
        let eps = self.cfg.epsilon(self.env_steps, self.total_steps);
        let q = self.q_values(net, &self.batch.obs, n);
        let acts: Vec<u32> = (0..n)
            .map(|i| {
                if self.rng.random::<f32>() < eps {
                    self.rng.random_range(0..self.actions as u32)
                } else {
                    argmax(&q[i * self.actions..(i + 1) * self.actions])
                }
            })
            .collect();
        let obs = self.batch.obs.clone();
        self.env
            .step(&Actions::Discrete(acts.clone()), &mut self.batch);
        self.env_steps += n as u64;
        self.stats.record(&self.batch);
        let d = self.obs_dim;
        for (i, &a) in acts.iter().enumerate() {
            let ended = self.batch.terminated[i] || self.batch.truncated[i];
            let next = if ended {
                &self.batch.final_obs[i * d..(i + 1) * d]
            } else {
                &self.batch.obs[i * d..(i + 1) * d]
            };
            self.replay.push(
                &obs[i * d..(i + 1) * d],
                a,
                self.batch.reward[i],
                next,
                self.batch.terminated[i],
            );
        }
    }

    fn train_step(&mut self, progress: f64) -> Result<(f32, f32), AlgoError> {
        let (bs, d, na) = (self.cfg.batch_size, self.obs_dim, self.actions);
        let idx: Vec<usize> = (0..bs)
            .map(|_| self.rng.random_range(0..self.replay.len()))
            .collect();
        let mut obs = Vec::with_capacity(bs * d);
        let mut next = Vec::with_capacity(bs * d);
        for &i in &idx {
            obs.extend_from_slice(&self.replay.obs[i * d..(i + 1) * d]);
            next.extend_from_slice(&self.replay.next_obs[i * d..(i + 1) * d]);
        }
        if self.target_eval.is_none() {
            self.target_eval = Some(self.evaluator(&self.target));
        }
        if self.online.is_none()
            && let Some(QNet::Chain(_)) = &self.target_eval
        {
            let model = self.model.as_ref().expect("model");
            if self.optim.takes_host_grads(model) {
                self.online = self.chain_of(model);
            }
        }
        if self.online.is_some() {
            return self.host_train_step(obs, next, &idx, progress);
        }
        let model = self.model.take().expect("model");
        let tnet = self.target_eval.as_ref().expect("target evaluator");
        let tq = self.q_values(tnet, &next, bs);
        let online_next = if self.cfg.double {
            let online = self.evaluator(&model);
            Some(self.q_values(&online, &next, bs))
        } else {
            None
        };
        let targets = self.td_targets(&idx, &tq, online_next.as_deref());
        let dev = &self.device;
        let x = tensor(obs, [1, bs, d], dev);
        let start = tensor(vec![0.0; bs], [1, bs], dev);
        let carry = model.init_carry(self.q.0, bs, dev);
        let out = model.forward(self.q.0, x, &start, carry);
        let q: Tensor<2> = out.heads[self.q.1].clone().reshape([bs, na]);
        let a = Tensor::<2, Int>::from_data(
            TensorData::new(
                idx.iter()
                    .map(|&i| self.replay.actions[i] as i64)
                    .collect::<Vec<_>>(),
                [bs, 1],
            ),
            dev,
        );
        let q_sa: Tensor<1> = q.gather(1, a).reshape([bs]);
        let y = tensor(targets, [bs], dev);
        let loss = (q_sa.clone() - y).square().mean().mul_scalar(0.5);
        let loss_v = loss.clone().detach().into_scalar::<f32>();
        let loss = super::common::with_aux(loss, out.aux);
        let q_mean = q_sa.detach().mean().into_scalar::<f32>();
        if let Err(e) = self.finite(loss_v) {
            self.model = Some(model);
            return Err(e);
        }
        let (model, _norm) = self.optim.step(model, loss, progress);
        self.model = Some(model);
        Ok((loss_v, q_mean))
    }

    /// TD targets `r + γ·(1 − terminal)·Q_target(s', a*)` of the sampled transitions `idx`, from
    /// the target network's next-state values `tq` and, for double DQN, the online network's
    /// (`a*` is their argmax; otherwise the target's).
    fn td_targets(&self, idx: &[usize], tq: &[f32], online_next: Option<&[f32]>) -> Vec<f32> {
        let na = self.actions;
        idx.iter()
            .enumerate()
            .map(|(k, &i)| {
                let row = &tq[k * na..(k + 1) * na];
                let next_q = match online_next {
                    Some(on) => row[argmax(&on[k * na..(k + 1) * na]) as usize],
                    None => row.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
                };
                let nonterminal = if self.replay.terminal[i] { 0.0 } else { 1.0 };
                self.replay.rewards[i] + self.cfg.gamma * nonterminal * next_q
            })
            .collect()
    }

    /// [`Dqn::train_step`] with the Q network and its target as host dense chains: the same loss
    /// `½·mean((Q(s, a) − y)²)`, its gradient back-propagated on the host and the host optimizer.
    /// With a helper thread, the target's forward pass runs beside the online one, and each
    /// layer's weight gradient beside its input gradient.
    fn host_train_step(
        &mut self,
        obs: Vec<f32>,
        next: Vec<f32>,
        idx: &[usize],
        progress: f64,
    ) -> Result<(f32, f32), AlgoError> {
        let (bs, na) = (idx.len(), self.actions);
        let online = self.online.as_ref().expect("host-held online network");
        let Some(QNet::Chain(target)) = &self.target_eval else {
            unreachable!("host_train_step needs the target as a chain")
        };
        let double = self.cfg.double;
        let next_values = || {
            let online_next = double.then(|| online.forward(next.clone(), bs));
            (target.forward(next, bs), online_next)
        };
        let train = || online.train_forward(obs, bs);
        let ((tq, online_next), (q, tape)) = match &self.fork {
            Some(fork) => fork.join(next_values, train),
            None => (next_values(), train()),
        };
        let targets = self.td_targets(idx, &tq, online_next.as_deref());
        let mut dq = vec![0.0f32; bs * na];
        let (mut loss, mut q_sum) = (0.0f32, 0.0f32);
        for (k, &i) in idx.iter().enumerate() {
            let at = k * na + self.replay.actions[i] as usize;
            let diff = q[at] - targets[k];
            loss += diff * diff;
            q_sum += q[at];
            dq[at] = diff / bs as f32;
        }
        let loss = 0.5 * loss / bs as f32;
        self.finite(loss)?;
        let grads = online.backward(tape, dq, self.fork.as_ref());
        let chain = self.online.as_mut().expect("host-held online network");
        self.optim
            .apply_host(chain.params_mut(), grads, progress, self.fork.as_ref());
        self.stale = true;
        Ok((loss, q_sum / bs as f32))
    }

    /// Writes the host-held online network's parameters back into `model`.
    fn sync(&mut self) {
        if !self.stale {
            return;
        }
        let online = self.online.as_ref().expect("host-held online network");
        let model = online.write_to(self.model.take().expect("model"));
        super::optim::sweep_autodiff_graphs(&model);
        self.model = Some(model);
        self.stale = false;
    }

    /// What acts: the host-held online network, or an evaluator of the model.
    fn actor(&self) -> QNet {
        match self.online {
            Some(_) => QNet::Online,
            None => self.evaluator(self.model.as_ref().expect("model")),
        }
    }

    /// One iteration's acting and gradient steps: the sums of the TD loss and the mean Q, and
    /// the number of gradient steps.
    fn grad_steps(&mut self, progress: f64) -> Result<(f32, f32, u32), AlgoError> {
        let mut losses = (0.0, 0.0, 0u32);
        let vec_steps =
            super::common::vector_steps_per_round(self.cfg.train_frequency, self.cfg.num_envs);
        for _ in 0..self.grad_steps_per_iter {
            let actor = self.actor();
            for _ in 0..vec_steps {
                self.act_and_store(&actor);
            }
            drop(actor);
            if let Some(e) = self.env.failure() {
                return Err(AlgoError::Env(e));
            }
            if self.env_steps >= self.cfg.learning_starts
                && self.replay.len() >= self.cfg.batch_size
            {
                let (l, q) = self.train_step(progress)?;
                losses = (losses.0 + l, losses.1 + q, losses.2 + 1);
            }
            if target_due(
                self.env_steps,
                self.last_target_update,
                self.cfg.target_network_frequency,
            ) {
                // the host-held network's steps go into the model before the target copies it
                self.sync();
                move_target(
                    &mut self.target,
                    self.model.as_ref().expect("model"),
                    self.cfg.tau,
                );
                self.last_target_update = self.env_steps;
                self.target_eval = None;
            }
        }
        Ok(losses)
    }

    /// An error for a TD loss that is not finite (the caller keeps its parameters unchanged).
    fn finite(&self, loss: f32) -> Result<(), AlgoError> {
        if loss.is_finite() {
            return Ok(());
        }
        Err(AlgoError::NonFinite("td_loss".into(), loss, self.env_steps))
    }
}

/// What computes Q-values for acting and targets.
enum QNet {
    /// The network as a host dense chain.
    Chain(DenseChain),
    /// The host-held online network ([`Dqn::online`]).
    Online,
    /// A model on the inference device.
    Model(AgentModel),
}

/// Whether a target update is due: `every` env steps have passed since the `last` one.
fn target_due(env_steps: u64, last: u64, every: u64) -> bool {
    env_steps - last >= every
}

/// When `every` env steps have passed since `*last`, move the (inference-device) `target` toward
/// the `online` model ([`move_target`]) and record the step.
pub fn update_target_if_due(
    target: &mut AgentModel,
    online: &AgentModel,
    tau: f32,
    env_steps: u64,
    last: &mut u64,
    every: u64,
) {
    if target_due(env_steps, *last, every) {
        move_target(target, online, tau);
        *last = env_steps;
    }
}

/// Move the (inference-device) `target` toward the `online` model with [`soft_update`].
fn move_target(target: &mut AgentModel, online: &AgentModel, tau: f32) {
    let online = online.valid();
    let old = std::mem::replace(target, online.clone());
    *target = soft_update(old, &online, tau);
}

/// `target ← τ·online + (1 − τ)·target`, pairing parameters by visit order (a copy of `online`
/// when `τ ≥ 1`).
pub fn soft_update(target: AgentModel, online: &AgentModel, tau: f32) -> AgentModel {
    if tau >= 1.0 {
        return online.clone();
    }
    #[derive(Default)]
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            self.0.push(p.val().flatten::<1>(0, D - 1));
        }
    }
    struct Mix {
        src: std::vec::IntoIter<Tensor<1>>,
        tau: f32,
    }
    impl ModuleMapper for Mix {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let src = self
                .src
                .next()
                .expect("target and online networks have the same structure");
            let tau = self.tau;
            p.map(|t| {
                let s: Tensor<D> = src.reshape(t.shape());
                s.mul_scalar(tau) + t.mul_scalar(1.0 - tau)
            })
        }
    }
    let mut c = Collect::default();
    online.visit(&mut c);
    target.map(&mut Mix {
        src: c.0.into_iter(),
        tau,
    })
}

impl Algorithm for Dqn {
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError> {
        let before = self.env_steps;
        let losses = self.grad_steps(progress);
        // the model is current whenever the trainer can see it, also after an error
        self.sync();
        let (loss_sum, q_sum, n) = losses?;
        let mut scalars = std::collections::BTreeMap::new();
        if n > 0 {
            scalars.insert("td_loss".into(), loss_sum / n as f32);
            scalars.insert("q_mean".into(), q_sum / n as f32);
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
        let exact = DqnSnapshot {
            env_steps: self.env_steps,
            rng: self.rng.s,
            last_target_update: self.last_target_update,
            env: self.env.save_state(),
            batch: Cow::Borrowed(&self.batch),
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
        let snap: DqnSnapshot<'static> = snapshot::decode(&state.exact)?;
        snapshot::check_batch(&snap.batch, self.cfg.num_envs, self.obs_dim)?;
        let r = &snap.replay;
        let d = self.obs_dim;
        if r.cap != self.cfg.buffer_size
            || r.dim != d
            || r.len > r.cap
            || r.head >= r.cap.max(1)
            || r.obs.len() != r.cap * d
            || r.next_obs.len() != r.cap * d
            || r.actions.len() != r.cap
            || r.rewards.len() != r.cap
            || r.terminal.len() != r.cap
        {
            return Err("stored replay buffer does not fit this agent".into());
        }
        let target = state.target.ok_or("checkpoint lacks the target network")?;
        self.optim.load_bytes(state.optimizer)?;
        self.env.load_state(&snap.env)?;
        self.env_steps = snap.env_steps;
        self.rng.s = snap.rng;
        self.last_target_update = snap.last_target_update;
        self.batch = snap.batch.into_owned();
        self.replay = snap.replay.into_owned();
        self.stats = snap.stats.into_owned();
        self.target = target;
        self.target_eval = None;
        self.online = None;
        self.stale = false;
        self.model = Some(model);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DqnConfig {
        DqnConfig::from_args(&ir::Args(vec![
            ("start_e".into(), ir::Value::Float(1.0)),
            ("end_e".into(), ir::Value::Float(0.05)),
            ("exploration_fraction".into(), ir::Value::Float(0.5)),
            ("learning_starts".into(), ir::Value::Int(1000)),
        ]))
    }

    #[test]
    fn host_chain_steps_equal_autodiff_steps() {
        let src = r#"
agent a {
  env = "gymnax::CartPole-v1"
  algorithm = dqn(num_envs = 5, buffer_size = 500, batch_size = 16, learning_starts = 0, double = true)
  encoder = mlp(32, 16)
  q = q()
  optimizer = adam(lr = 1e-2, eps = 0.1, clip_norm = 100.0)
  train { steps = 1000, seed = 3 }
}
"#;
        // A large `eps` keeps Adam from normalising away the gradients' scale, so the comparison
        // sees it; the clip norm is too large to act but its norm is computed.
        let agent = crate::check::agent_source(src);
        let dev = Device::flex().autodiff();
        let mut host = Dqn::new(&agent, &dev).expect("dqn");
        let mut ops = Dqn::new(&agent, &dev).expect("dqn");
        ops.host_chain = false;
        let params = |d: &Dqn| d.model.as_ref().expect("model").valid();
        assert!(host.chain_of(host.model.as_ref().expect("model")).is_some());
        // The same initial parameters (initialisation draws from a process-wide generator).
        ops.model = host.model.clone();
        ops.target = host.target.clone();
        for step in 0..6 {
            for d in [&mut host, &mut ops] {
                for _ in 0..5 {
                    let net = d.actor();
                    d.act_and_store(&net);
                }
            }
            let (lh, qh) = host.train_step(0.0).expect("host step");
            let (lo, qo) = ops.train_step(0.0).expect("autodiff step");
            host.sync();
            assert!(
                (lh - lo).abs() < 1e-4 * (1.0 + lo.abs()),
                "step {step}: loss {lh} vs {lo}"
            );
            assert!(
                (qh - qo).abs() < 1e-4 * (1.0 + qo.abs()),
                "step {step}: q {qh} vs {qo}"
            );
            let (a, b) = (flat(&params(&host)), flat(&params(&ops)));
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            // Both paths run the same kernels: equal up to the loss's summation order.
            assert!(worst < 1e-6, "step {step}: parameters differ by {worst}");
        }
        assert_eq!(host.replay.actions, ops.replay.actions, "same behaviour");
    }

    /// Every parameter value, in visit order.
    fn flat(m: &AgentModel) -> Vec<f32> {
        struct All(Vec<f32>);
        impl ModuleVisitor for All {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                self.0.extend(host(p.val()));
            }
        }
        let mut all = All(Vec::new());
        m.visit(&mut all);
        all.0
    }

    #[test]
    fn epsilon_schedule_holds_then_decays_linearly() {
        let c = cfg();
        assert_eq!(c.epsilon(0, 10_000), 1.0);
        assert_eq!(c.epsilon(1000, 10_000), 1.0);
        // halfway through the 5000-step decay
        assert!((c.epsilon(3500, 10_000) - 0.525).abs() < 1e-6);
        assert!((c.epsilon(6000, 10_000) - 0.05).abs() < 1e-6);
        assert!((c.epsilon(9999, 10_000) - 0.05).abs() < 1e-6);
    }

    #[test]
    fn replay_overwrites_the_oldest_transition() {
        let mut r = Replay::new(2, 1);
        r.push(&[1.0], 0, 1.0, &[2.0], false);
        r.push(&[2.0], 1, 2.0, &[3.0], false);
        r.push(&[3.0], 0, 3.0, &[4.0], true);
        assert_eq!(r.len(), 2);
        assert_eq!(r.obs, vec![3.0, 2.0]);
        assert_eq!(r.terminal, vec![true, false]);
    }

    #[test]
    fn soft_update_interpolates_and_hard_copy_replaces() {
        use crate::lower::ir_builder as b;
        let env = crate::envs::info("gymnax::CartPole-v1").expect("cartpole");
        let net = b::network(
            "q",
            b::mlp(4, &[8], "relu"),
            b::identity(8),
            vec![("q", b::head("q", 8, 2))],
        );
        let agent = b::agent("t", env, "dqn", vec![], vec![net], vec![], 1000, 0);
        let dev = Device::flex();
        let a = lower::lower_agent(&agent, &dev).expect("lowers").model;
        let t = lower::lower_agent(&agent, &dev).expect("lowers").model;
        let flat = |m: &AgentModel| {
            #[derive(Default)]
            struct C(Vec<f32>);
            impl ModuleVisitor for C {
                fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                    self.0
                        .extend(p.val().into_data().convert::<f32>().iter::<f32>());
                }
            }
            let mut c = C::default();
            m.visit(&mut c);
            c.0
        };
        let (fa, ft) = (flat(&a), flat(&t));
        let mixed = flat(&soft_update(t.clone(), &a, 0.25));
        for ((m, x), y) in mixed.iter().zip(&fa).zip(&ft) {
            assert!((m - (0.25 * x + 0.75 * y)).abs() < 1e-6);
        }
        assert_eq!(flat(&soft_update(t, &a, 1.0)), fa);
    }
}
