//! Recurrent-aware proximal policy optimisation.
//!
//! Rollouts run the policy on the inference device (`valid()`), one vector step at a time, and keep
//! the carries of every network at the rollout start. A separate critic does not step with the
//! actor: it values the observed steps in sequence form, in chunks, on a second thread
//! ([`critic`]). Updates replay whole `[T, B]` sequences from those carries, with minibatches over
//! environments when a network is recurrent and over individual steps otherwise; separate actor and
//! critic networks clip their gradients each on its own and train side by side ([`update`]). GAE
//! bootstraps through truncation (the value of the true last observation is added to the reward),
//! never through termination.

use std::collections::BTreeMap;

use burn::module::Module;
use burn::prelude::*;

use crate::check::ir::{self, ActionSpace};
use crate::envs::{Actions, StepBatch, VecEnv};
use crate::lower;
use crate::runtime::carry::Carry;
use crate::runtime::fused::compact;
use crate::runtime::fused::fork::Fork;
use crate::runtime::net::AgentModel;

use super::common::{
    EpisodeStats, Optim, Rng64, flag_values, flags, host, normal, sample_categorical, tensor,
};
use super::intrinsic::Intrinsic;

mod critic;
mod loss;
mod update;
use super::returns::{gae, normalize};
use super::snapshot::{self, CarryData};
use super::{AlgoError, AlgoState, Algorithm, IterStats};

/// PPO hyperparameters (SPEC §7 names).
#[derive(Clone, Debug)]
pub struct PpoConfig {
    /// Parallel environments; inside [`Ppo`] the batch columns (environments × agents, see
    /// [`super::ippo`]).
    pub num_envs: usize,
    /// Steps per environment per rollout.
    pub num_steps: usize,
    /// Discount.
    pub gamma: f32,
    /// GAE λ.
    pub gae_lambda: f32,
    /// Minibatches per epoch.
    pub minibatches: usize,
    /// Epochs per rollout.
    pub epochs: usize,
    /// Ratio clip ε.
    pub clip: f32,
    /// Clip the value loss too.
    pub clip_vloss: bool,
    /// Entropy bonus coefficient.
    pub ent_coef: f32,
    /// Value loss coefficient.
    pub vf_coef: f32,
    /// Normalise advantages over the batch.
    pub normalize_advantage: bool,
}

impl PpoConfig {
    /// From checked hyperparameters.
    pub fn from_args(a: &ir::Args) -> Self {
        let f = |k: &str, d: f64| a.get(k).and_then(ir::Value::as_f64).unwrap_or(d);
        let b = |k: &str, d: bool| a.get(k).and_then(ir::Value::as_bool).unwrap_or(d);
        PpoConfig {
            num_envs: f("num_envs", 8.0) as usize,
            num_steps: f("num_steps", 128.0) as usize,
            gamma: f("gamma", 0.99) as f32,
            gae_lambda: f("gae_lambda", 0.95) as f32,
            minibatches: f("minibatches", 4.0) as usize,
            epochs: f("epochs", 4.0) as usize,
            clip: f("clip", 0.2) as f32,
            clip_vloss: b("clip_vloss", true),
            ent_coef: f("ent_coef", 0.01) as f32,
            vf_coef: f("vf_coef", 0.5) as f32,
            normalize_advantage: b("normalize_advantage", true),
        }
    }
}

/// Host-side rollout storage, time-major `[T, B, ...]`.
struct Rollout {
    obs: Vec<f32>,
    starts: Vec<bool>,
    actions: Vec<f32>,
    logp: Vec<f32>,
    values: Vec<f32>,
    rewards: Vec<f32>,
    dones: Vec<bool>,
}

/// The rollout's side of the critic thread: what has been sent and which steps wait for a
/// truncation bootstrap.
struct Jobs {
    tx: std::sync::mpsc::Sender<critic::Job>,
    /// Steps sent so far.
    sent: usize,
    /// Steps with truncated episodes and which columns bootstrap, one per probe sent for them.
    truncations: Vec<(usize, Vec<bool>)>,
}

impl Jobs {
    /// Sends the rollout steps not yet sent, then `probe`.
    fn send(&mut self, r: &Rollout, n: usize, f: usize, probe: Option<(Vec<f32>, Vec<f32>)>) {
        let steps = r.starts.len() / n - self.sent;
        let job = critic::Job {
            obs: r.obs[self.sent * n * f..].to_vec(),
            starts: flag_values(&r.starts[self.sent * n..]),
            steps,
            probe,
        };
        self.sent += steps;
        // the critic thread only stops after this sender is dropped
        self.tx.send(job).expect("critic thread alive");
    }
}

/// Everything of a [`Ppo`] beyond model and optimizer that the rest of a run depends on.
#[derive(serde::Serialize, serde::Deserialize)]
struct PpoSnapshot {
    env_steps: u64,
    rng: [u64; 4],
    env: Vec<u8>,
    batch: StepBatch,
    carries: Vec<(usize, CarryData)>,
    stats: EpisodeStats,
    #[serde(default)]
    intrinsic: Option<Vec<u8>>,
}

/// PPO bound to an agent.
pub struct Ppo {
    cfg: PpoConfig,
    model: Option<AgentModel>,
    optim: Optim,
    actor: (usize, usize),
    critic: (usize, usize),
    env: Box<dyn VecEnv>,
    batch: StepBatch,
    carries: BTreeMap<usize, Carry>,
    rng: Rng64,
    env_steps: u64,
    device: Device,
    plain: Device,
    stats: EpisodeStats,
    obs_dim: usize,
    action: ActionSpace,
    seed: u64,
    intrinsic: Option<Intrinsic>,
    /// Agents per environment (1, or more for `ippo`/`irppo`: agents are extra batch columns).
    agents: usize,
    /// Helper thread that differentiates the critic beside the actor and updates one network's
    /// parameters beside the other's (present when [`loss::separable`]).
    fork: Option<Fork>,
}

impl Ppo {
    /// Lower the agent and set up its environments.
    pub fn new(agent: &ir::Agent, device: &Device) -> Result<Self, AlgoError> {
        let mut cfg = PpoConfig::from_args(&agent.hparams);
        let agents = agent.env.agents.max(1);
        let copies = cfg.num_envs;
        cfg.num_envs *= agents;
        let lowered =
            lower::lower_agent(agent, device).map_err(|e| AlgoError::Config(e.to_string()))?;
        let actor = lowered
            .head("actor")
            .ok_or_else(|| AlgoError::Config("ppo needs an actor head".into()))?;
        let critic = lowered
            .head("critic")
            .ok_or_else(|| AlgoError::Config("ppo needs a critic head".into()))?;
        let mut env = super::common::make_env(&agent.env.id, copies, &lowered.model)?;
        let obs_dim = env.info().obs_dim;
        let action = env.info().action.clone();
        let mut batch = StepBatch::new(cfg.num_envs, obs_dim);
        let seed = agent.train.seed;
        env.reset(seed, &mut batch);
        let plain = device.clone().inner();
        let model = lowered.model;
        let mut carries = BTreeMap::new();
        for net in [actor.0, critic.0] {
            carries.insert(net, model.init_carry(net, cfg.num_envs, &plain));
        }
        let intrinsic = Intrinsic::new(agent, cfg.num_envs, cfg.epochs, cfg.minibatches, device)?;
        let separable = loss::separable(
            agent,
            &loss::LossSpec {
                actor,
                critic,
                action: &action,
                clip: cfg.clip,
                clip_vloss: cfg.clip_vloss,
                vf_coef: cfg.vf_coef,
                ent_coef: cfg.ent_coef,
            },
        );
        Ok(Ppo {
            fork: separable.then(Fork::new).flatten(),
            intrinsic,
            optim: Optim::new(&agent.optimizer, &agent.optimizer_args),
            cfg,
            model: Some(model),
            actor,
            critic,
            env,
            batch,
            carries,
            rng: Rng64::new(seed, 1),
            env_steps: 0,
            device: device.clone(),
            plain,
            stats: EpisodeStats::default(),
            obs_dim,
            action,
            seed,
            agents,
        })
    }

    fn action_width(&self) -> usize {
        match &self.action {
            ActionSpace::Discrete(_) => 1,
            ActionSpace::Box { dim, .. } => *dim,
        }
    }

    /// Collect `num_steps` vector steps; returns them with the critic's values of the
    /// observations after the last step. A separate critic runs beside the actor on a second
    /// thread, in sequence form over chunks of steps (see [`critic`]).
    fn rollout(&mut self, model: &AgentModel) -> (Rollout, Vec<f32>) {
        if self.actor.0 == self.critic.0 {
            let r = self.collect(model, None);
            let last = self.last_values(model);
            return (r, last);
        }
        let (n, f, net) = (self.cfg.num_envs, self.obs_dim, self.critic);
        let carry = self.carries[&net.0].clone();
        let plain = self.plain.clone();
        let (mut r, truncations, values) = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let worker = s.spawn(move || critic::serve(model, net, carry, (n, f), &plain, rx));
            let mut jobs = Jobs {
                tx,
                sent: 0,
                truncations: Vec::new(),
            };
            let r = self.collect(model, Some(&mut jobs));
            let (obs, start) = (self.batch.obs.clone(), flag_values(&self.batch.start));
            jobs.send(&r, n, f, Some((obs, start)));
            drop(jobs.tx);
            (r, jobs.truncations, worker.join().expect("critic thread"))
        });
        r.values = values.values;
        for ((t, boot_for), boot) in truncations.iter().zip(&values.probes) {
            for (i, &yes) in boot_for.iter().enumerate() {
                if yes {
                    r.rewards[t * n + i] += self.cfg.gamma * boot[i];
                }
            }
        }
        self.carries.insert(net.0, values.carry);
        let last = values.probes.last().cloned().expect("last values probed");
        (r, last)
    }

    /// The rollout loop: the actor steps the environments; the critic's values come from the
    /// same network (`jobs` = `None`) or are sent to the critic thread.
    fn collect(&mut self, model: &AgentModel, mut jobs: Option<&mut Jobs>) -> Rollout {
        let (n, t_len, f) = (self.cfg.num_envs, self.cfg.num_steps, self.obs_dim);
        let aw = self.action_width();
        let mut r = Rollout {
            obs: Vec::with_capacity(t_len * n * f),
            starts: Vec::with_capacity(t_len * n),
            actions: Vec::with_capacity(t_len * n * aw),
            logp: Vec::with_capacity(t_len * n),
            values: Vec::with_capacity(t_len * n),
            rewards: Vec::with_capacity(t_len * n),
            dones: Vec::with_capacity(t_len * n),
        };
        for t in 0..t_len {
            r.obs.extend_from_slice(&self.batch.obs);
            r.starts.extend_from_slice(&self.batch.start);
            let obs = tensor(self.batch.obs.clone(), [1, n, f], &self.plain);
            let start = flags(&self.batch.start, &self.plain);
            // moved out of the map (not cloned), so that the step can update its buffers in place
            let actor_carry = self.carries.remove(&self.actor.0).expect("actor carry");
            let a_out = model.forward(self.actor.0, obs, &start, actor_carry);
            if jobs.is_none() {
                r.values.extend(host(a_out.heads[self.critic.1].clone()));
            }
            let pol = host(a_out.heads[self.actor.1].clone());
            self.carries.insert(self.actor.0, a_out.carry);
            let log_std = model.nets[self.actor.0].heads[self.actor.1]
                .log_std()
                .map(host);
            let actions = self.sample(&pol, log_std.as_deref(), &mut r);
            self.env.step(&actions, &mut self.batch);
            self.env_steps += (n / self.agents) as u64;
            self.stats.record_team(&self.batch, self.agents);
            if let Some(i) = &mut self.intrinsic {
                i.observe(&self.batch);
            }
            r.rewards.extend_from_slice(&self.batch.reward);
            r.dones
                .extend((0..n).map(|i| self.batch.terminated[i] || self.batch.truncated[i]));
            // truncated (not terminated) episodes bootstrap from the value of their true last
            // observation, continuing the carry
            let boot_for: Vec<bool> = (0..n)
                .map(|i| self.batch.truncated[i] && !self.batch.terminated[i])
                .collect();
            let truncated = boot_for.iter().any(|&b| b);
            match jobs.as_deref_mut() {
                None if truncated => {
                    let boot = self.final_values(model);
                    for (i, &yes) in boot_for.iter().enumerate() {
                        if yes {
                            r.rewards[t * n + i] += self.cfg.gamma * boot[i];
                        }
                    }
                }
                None => {}
                Some(jobs) if truncated => {
                    let probe = (self.batch.final_obs.clone(), vec![0.0; n]);
                    jobs.send(&r, n, f, Some(probe));
                    jobs.truncations.push((t, boot_for));
                }
                Some(jobs) if t + 1 - jobs.sent == critic::CHUNK => jobs.send(&r, n, f, None),
                Some(_) => {}
            }
        }
        r
    }

    /// Critic values of the true last observations (before auto-reset), continuing the carry.
    fn final_values(&self, model: &AgentModel) -> Vec<f32> {
        let n = self.cfg.num_envs;
        let obs = tensor(
            self.batch.final_obs.clone(),
            [1, n, self.obs_dim],
            &self.plain,
        );
        let start = tensor(vec![0.0; n], [1, n], &self.plain);
        let out = model.forward(
            self.critic.0,
            obs,
            &start,
            self.carries[&self.critic.0].clone(),
        );
        host(out.heads[self.critic.1].clone())
    }

    fn sample(&mut self, pol: &[f32], log_std: Option<&[f32]>, r: &mut Rollout) -> Actions {
        let n = self.cfg.num_envs;
        match &self.action {
            ActionSpace::Discrete(a) => {
                let mut acts = Vec::with_capacity(n);
                for i in 0..n {
                    let (act, lp) = sample_categorical(&pol[i * a..(i + 1) * a], &mut self.rng);
                    acts.push(act);
                    r.actions.push(act as f32);
                    r.logp.push(lp);
                }
                Actions::Discrete(acts)
            }
            ActionSpace::Box { dim, low, high } => {
                let ls = log_std.unwrap_or(&[]);
                let mut env_a = Vec::with_capacity(n * dim);
                for i in 0..n {
                    let mut lp = 0.0;
                    for d in 0..*dim {
                        let s = ls.get(d).copied().unwrap_or(0.0);
                        let eps = normal(&mut self.rng);
                        let a = pol[i * dim + d] + s.exp() * eps;
                        lp += -0.5 * eps * eps - s - 0.5 * (std::f32::consts::TAU).ln();
                        r.actions.push(a);
                        env_a.push(a.clamp(low[d], high[d]));
                    }
                    r.logp.push(lp);
                }
                Actions::Continuous(env_a)
            }
        }
    }

    /// Values of the observations after the rollout, from the carries after the rollout.
    fn last_values(&self, model: &AgentModel) -> Vec<f32> {
        let n = self.cfg.num_envs;
        let obs = tensor(self.batch.obs.clone(), [1, n, self.obs_dim], &self.plain);
        let start = flags(&self.batch.start, &self.plain);
        let out = model.forward(
            self.critic.0,
            obs,
            &start,
            self.carries[&self.critic.0].clone(),
        );
        host(out.heads[self.critic.1].clone())
    }
}

impl Algorithm for Ppo {
    fn iterate(&mut self, progress: f64) -> Result<IterStats, AlgoError> {
        let t_rollout = std::time::Instant::now();
        let model = self.model.take().expect("model present");
        let valid = model.valid();
        // contiguous copies (not the acting windows' strided views), so that each minibatch's
        // row selection reads them directly
        let start_carries: BTreeMap<usize, Carry> = self
            .carries
            .iter()
            .map(|(&k, c)| (k, c.clone().map(&mut compact)))
            .collect();
        let (mut r, last) = self.rollout(&valid);
        drop(valid);
        if let Some(e) = self.env.failure() {
            self.model = Some(model);
            return Err(AlgoError::Env(e));
        }
        let mut extra = match &mut self.intrinsic {
            Some(i) => i.add_rewards(&r.obs, &r.actions, &mut r.rewards),
            None => BTreeMap::new(),
        };
        let (mut adv, ret) = gae(
            &r.rewards,
            &r.values,
            &r.dones,
            &last,
            self.cfg.gamma,
            self.cfg.gae_lambda,
        );
        if self.cfg.normalize_advantage {
            normalize(&mut adv);
        }
        let (n, t_len, f) = (self.cfg.num_envs, self.cfg.num_steps, self.obs_dim);
        let recurrent = [self.actor.0, self.critic.0]
            .iter()
            .any(|&k| start_carries[&k].floats_per_env() > 0);
        // sequence layout [T, B] (columns = envs) or flat layout [1, T·B] (columns = steps)
        let (lt, lb) = if recurrent {
            (t_len, n)
        } else {
            (1, t_len * n)
        };
        let mb = lb / self.cfg.minibatches.max(1);
        let aw = self.action_width();
        let starts = flag_values(&r.starts);
        let rollout_s = t_rollout.elapsed().as_secs_f32();
        let t_update = std::time::Instant::now();
        let spec = loss::LossSpec {
            actor: self.actor,
            critic: self.critic,
            action: &self.action,
            clip: self.cfg.clip,
            clip_vloss: self.cfg.clip_vloss,
            vf_coef: self.cfg.vf_coef,
            ent_coef: self.cfg.ent_coef,
        };
        let data = update::UpdateData {
            obs: &r.obs,
            starts: &starts,
            logp: &r.logp,
            adv: &adv,
            ret: &ret,
            values: &r.values,
            actions: &r.actions,
            carries: &start_carries,
            dims: (lt, lb, f, aw),
            recurrent,
            device: &self.device,
            plain: &self.plain,
        };
        let batches = update::batches(self.cfg.epochs, lb, mb, &mut self.rng);
        let optim = (&mut self.optim, progress);
        let (model, rows) = match self.fork.as_ref() {
            Some(fork) if update::runs_independently(&model, optim.0) => {
                update::independent(model, &data, &batches, &spec, optim, fork)
            }
            fork => update::coupled(model, &data, &batches, &spec, optim, fork),
        };
        self.model = Some(model);
        let mut sums: BTreeMap<String, f32> = BTreeMap::new();
        for (scalars, norm) in &rows {
            for (k, v) in loss::SCALARS.iter().zip(scalars) {
                if !v.is_finite() {
                    return Err(AlgoError::NonFinite(k.to_string(), *v, self.env_steps));
                }
                *sums.entry(k.to_string()).or_default() += v;
            }
            *sums.entry("grad_norm".into()).or_default() += norm;
        }
        let count = rows.len() as f32;
        if let Some(i) = &mut self.intrinsic {
            extra.extend(i.update(&r.obs, &r.actions, progress, self.env_steps)?);
        }
        extra.extend(self.env.take_metrics());
        let mut scalars: BTreeMap<String, f32> = sums
            .into_iter()
            .map(|(k, v)| (k, v / count.max(1.0)))
            .collect();
        scalars.insert("time/rollout_s".into(), rollout_s);
        scalars.insert("time/update_s".into(), t_update.elapsed().as_secs_f32());
        scalars.extend(extra);
        Ok(IterStats {
            env_steps: (n * t_len / self.agents) as u64,
            episodes: self.stats.take(),
            scalars,
        })
    }

    fn env_steps(&self) -> u64 {
        self.env_steps
    }
    fn steps_per_iteration(&self) -> u64 {
        (self.cfg.num_envs * self.cfg.num_steps / self.agents) as u64
    }
    fn model(&self) -> &AgentModel {
        self.model.as_ref().expect("model present")
    }
    fn policy_head(&self) -> (usize, usize) {
        self.actor
    }
    fn state(&self) -> AlgoState {
        let exact = PpoSnapshot {
            env_steps: self.env_steps,
            rng: self.rng.s,
            env: self.env.save_state(),
            batch: self.batch.clone(),
            carries: self
                .carries
                .iter()
                .map(|(k, c)| (*k, CarryData::of(c)))
                .collect(),
            stats: self.stats.clone(),
            intrinsic: self.intrinsic.as_ref().and_then(|i| i.save().ok()),
        };
        AlgoState {
            optimizer: self.optim.to_bytes(),
            meta: serde_json::json!({ "env_steps": self.env_steps, "rng": self.rng.s, "seed": self.seed }),
            target: None,
            exact: snapshot::encode(&exact),
        }
    }
    fn restore(&mut self, model: AgentModel, state: AlgoState) -> Result<(), String> {
        let snap: PpoSnapshot = snapshot::decode(&state.exact)?;
        snapshot::check_batch(&snap.batch, self.cfg.num_envs, self.obs_dim)?;
        let mut carries = BTreeMap::new();
        for (net, data) in &snap.carries {
            let like = self
                .carries
                .get(net)
                .ok_or("stored recurrent state names another network")?;
            carries.insert(*net, data.to_carry(like, &self.plain)?);
        }
        if carries.len() != self.carries.len() {
            return Err("stored recurrent state lacks a network".into());
        }
        self.optim.load_bytes(state.optimizer)?;
        if let (Some(i), Some(bytes)) = (&mut self.intrinsic, &snap.intrinsic) {
            i.load(bytes)?;
        }
        self.env.load_state(&snap.env)?;
        self.env_steps = snap.env_steps;
        self.rng.s = snap.rng;
        self.batch = snap.batch;
        self.carries = carries;
        self.stats = snap.stats;
        self.model = Some(model);
        Ok(())
    }
}
