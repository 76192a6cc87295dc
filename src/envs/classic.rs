//! gymnax classic control: CartPole-v1, Acrobot-v1 (RK4), MountainCar-v0,
//! MountainCarContinuous-v0 and Pendulum-v1, in `f32` with gymnax's exact dynamics, rewards,
//! termination (`terminated` from the post-step state) and truncation (`time >= max_steps`).
//!
//! [`ClassicEnv`] exposes the raw state `[time, fields...]` (the field order of the fixtures)
//! so that single transitions can be replayed.

use std::f32::consts::PI;

use super::rng::Rng;
use super::vec::{Action, Env, Outcome};

/// A classic-control environment whose full state can be read and written.
pub trait ClassicEnv: Env {
    /// The state as `[time, fields...]` in gymnax's field order.
    fn state(&self) -> Vec<f32>;
    /// Overwrite the state from `[time, fields...]`.
    fn set_state(&mut self, state: &[f32]);
}

/// Build a classic environment by gymnax name (`CartPole-v1`, ...).
pub fn by_name(name: &str) -> Option<Box<dyn ClassicEnv>> {
    Some(match name {
        "CartPole-v1" => Box::new(CartPole::default()),
        "Acrobot-v1" => Box::new(Acrobot::default()),
        "MountainCar-v0" => Box::new(MountainCar::default()),
        "MountainCarContinuous-v0" => Box::new(MountainCarContinuous::default()),
        "Pendulum-v1" => Box::new(Pendulum::default()),
        _ => return None,
    })
}

#[inline]
fn outcome(reward: f32, terminated: bool, time: u32, max: u32) -> Outcome {
    Outcome {
        reward,
        terminated,
        truncated: !terminated && time >= max,
    }
}

/// gymnax `CartPole-v1`: obs `[x, x_dot, theta, theta_dot]`, 2 actions, 500 steps.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CartPole {
    time: u32,
    s: [f32; 4],
}

const CP_GRAVITY: f32 = 9.8;
const CP_MASSPOLE: f32 = 0.1;
const CP_TOTAL_MASS: f32 = 1.1;
const CP_LENGTH: f32 = 0.5;
const CP_POLEMASS_LENGTH: f32 = 0.05;
const CP_FORCE: f32 = 10.0;
const CP_TAU: f32 = 0.02;
const CP_THETA_LIMIT: f32 = 12.0 * 2.0 * std::f64::consts::PI as f32 / 360.0;
const CP_X_LIMIT: f32 = 2.4;

impl CartPole {
    fn is_terminal(&self) -> bool {
        let [x, _, th, _] = self.s;
        !(-CP_X_LIMIT..=CP_X_LIMIT).contains(&x)
            || !(-CP_THETA_LIMIT..=CP_THETA_LIMIT).contains(&th)
    }
}

impl Env for CartPole {
    fn obs_dim(&self) -> usize {
        4
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for v in &mut self.s {
            *v = rng.uniform_f32(-0.05, 0.05);
        }
        self.time = 0;
        obs.copy_from_slice(&self.s);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let prev_terminal = self.is_terminal();
        let a = action.index() as f32;
        let [x, x_dot, theta, theta_dot] = self.s;
        let force = CP_FORCE * a - CP_FORCE * (1.0 - a);
        let (sin, cos) = theta.sin_cos();
        let temp = (force + CP_POLEMASS_LENGTH * theta_dot * theta_dot * sin) / CP_TOTAL_MASS;
        let thetaacc = (CP_GRAVITY * sin - cos * temp)
            / (CP_LENGTH * (4.0 / 3.0 - CP_MASSPOLE * cos * cos / CP_TOTAL_MASS));
        let xacc = temp - CP_POLEMASS_LENGTH * thetaacc * cos / CP_TOTAL_MASS;
        self.s = [
            x + CP_TAU * x_dot,
            x_dot + CP_TAU * xacc,
            theta + CP_TAU * theta_dot,
            theta_dot + CP_TAU * thetaacc,
        ];
        self.time += 1;
        obs.copy_from_slice(&self.s);
        let reward = if prev_terminal { 0.0 } else { 1.0 };
        outcome(reward, self.is_terminal(), self.time, 500)
    }
}

impl ClassicEnv for CartPole {
    fn state(&self) -> Vec<f32> {
        let mut v = vec![self.time as f32];
        v.extend_from_slice(&self.s);
        v
    }
    fn set_state(&mut self, state: &[f32]) {
        self.time = state[0] as u32;
        self.s.copy_from_slice(&state[1..5]);
    }
}

/// gymnax `Acrobot-v1` ("book" version, RK4 with dt 0.2): obs `[cos a1, sin a1, cos a2, sin a2,
/// v1, v2]`, 3 actions (torque -1, 0, +1), 500 steps.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Acrobot {
    time: u32,
    s: [f32; 4],
}

const AC_DT: f32 = 0.2;

fn acrobot_dsdt(y: [f32; 5]) -> [f32; 5] {
    let (m1, m2, l1, lc1, lc2, i1, i2, g) = (
        1.0f32, 1.0f32, 1.0f32, 0.5f32, 0.5f32, 1.0f32, 1.0f32, 9.8f32,
    );
    let half_pi = (std::f64::consts::PI / 2.0) as f32;
    let [t1, t2, dt1, dt2, a] = y;
    let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * t2.cos()) + i1 + i2;
    let d2 = m2 * (lc2 * lc2 + l1 * lc2 * t2.cos()) + i2;
    let phi2 = m2 * lc2 * g * (t1 + t2 - half_pi).cos();
    let phi1 = -m2 * l1 * lc2 * (dt2 * dt2) * t2.sin() - 2.0 * m2 * l1 * lc2 * dt2 * dt1 * t2.sin()
        + (m1 * lc1 + m2 * l1) * g * (t1 - half_pi).cos()
        + phi2;
    let ddt2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dt1 * dt1) * t2.sin() - phi2)
        / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
    let ddt1 = -(d2 * ddt2 + phi1) / d1;
    [dt1, dt2, ddt1, ddt2, 0.0]
}

fn axpy(y: [f32; 5], h: f32, k: [f32; 5]) -> [f32; 5] {
    std::array::from_fn(|i| y[i] + h * k[i])
}

fn acrobot_rk4(y0: [f32; 5]) -> [f32; 5] {
    let dt2 = AC_DT / 2.0;
    let k1 = acrobot_dsdt(y0);
    let k2 = acrobot_dsdt(axpy(y0, dt2, k1));
    let k3 = acrobot_dsdt(axpy(y0, dt2, k2));
    let k4 = acrobot_dsdt(axpy(y0, AC_DT, k3));
    let h = (0.2f64 / 6.0) as f32;
    std::array::from_fn(|i| y0[i] + h * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
}

/// gymnax's `wrap(x, -pi, pi)`.
fn wrap_pi(x: f32) -> f32 {
    let (m, big_m) = (-PI, PI);
    let diff = (2.0 * std::f64::consts::PI) as f32;
    let up = if x < m { 1.0 } else { 0.0 };
    let down = if x >= big_m { 1.0 } else { 0.0 };
    let how_often = up * ((m - x) / diff).ceil() + down * ((x - big_m) / diff + 1.0).floor();
    x - how_often * diff * down + how_often * diff * up
}

impl Acrobot {
    fn done_angle(&self) -> bool {
        -self.s[0].cos() - (self.s[1] + self.s[0]).cos() > 1.0
    }
    fn write_obs(&self, obs: &mut [f32]) {
        let (s1, c1) = self.s[0].sin_cos();
        let (s2, c2) = self.s[1].sin_cos();
        obs.copy_from_slice(&[c1, s1, c2, s2, self.s[2], self.s[3]]);
    }
}

impl Env for Acrobot {
    fn obs_dim(&self) -> usize {
        6
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        for v in &mut self.s {
            *v = rng.uniform_f32(-0.1, 0.1);
        }
        self.time = 0;
        self.write_obs(obs);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let torque = [-1.0f32, 0.0, 1.0][action.index().min(2) as usize];
        let ns = acrobot_rk4([self.s[0], self.s[1], self.s[2], self.s[3], torque]);
        let v1 = 4.0 * std::f64::consts::PI as f32;
        let v2 = 9.0 * std::f64::consts::PI as f32;
        self.s = [
            wrap_pi(ns[0]),
            wrap_pi(ns[1]),
            ns[2].clamp(-v1, v1),
            ns[3].clamp(-v2, v2),
        ];
        self.time += 1;
        let done = self.done_angle();
        self.write_obs(obs);
        outcome(if done { 0.0 } else { -1.0 }, done, self.time, 500)
    }
}

impl ClassicEnv for Acrobot {
    fn state(&self) -> Vec<f32> {
        let mut v = vec![self.time as f32];
        v.extend_from_slice(&self.s);
        v
    }
    fn set_state(&mut self, state: &[f32]) {
        self.time = state[0] as u32;
        self.s.copy_from_slice(&state[1..5]);
    }
}

const MC_MIN_POS: f32 = -1.2;
const MC_MAX_POS: f32 = 0.6;
const MC_MAX_SPEED: f32 = 0.07;
const MC_GRAVITY: f32 = 0.0025;

/// gymnax `MountainCar-v0`: obs `[position, velocity]`, 3 actions, reward -1, 200 steps.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MountainCar {
    time: u32,
    pos: f32,
    vel: f32,
}

impl Env for MountainCar {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.pos = rng.uniform_f32(-0.6, -0.4);
        self.vel = 0.0;
        self.time = 0;
        obs.copy_from_slice(&[self.pos, self.vel]);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let a = action.index() as f32;
        let mut vel = self.vel + (a - 1.0) * 0.001 - (3.0 * self.pos).cos() * MC_GRAVITY;
        vel = vel.clamp(-MC_MAX_SPEED, MC_MAX_SPEED);
        let pos = (self.pos + vel).clamp(MC_MIN_POS, MC_MAX_POS);
        if pos == MC_MIN_POS && vel < 0.0 {
            vel = 0.0;
        }
        self.pos = pos;
        self.vel = vel;
        self.time += 1;
        obs.copy_from_slice(&[pos, vel]);
        outcome(-1.0, pos >= 0.5 && vel >= 0.0, self.time, 200)
    }
}

impl ClassicEnv for MountainCar {
    fn state(&self) -> Vec<f32> {
        vec![self.time as f32, self.pos, self.vel]
    }
    fn set_state(&mut self, state: &[f32]) {
        self.time = state[0] as u32;
        self.pos = state[1];
        self.vel = state[2];
    }
}

/// gymnax `MountainCarContinuous-v0`: obs `[position, velocity]`, force in `[-1, 1]`,
/// reward `-0.1 a^2 + 100` at the goal, 999 steps.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct MountainCarContinuous {
    time: u32,
    pos: f32,
    vel: f32,
}

impl Env for MountainCarContinuous {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.pos = rng.uniform_f32(-0.6, -0.4);
        self.vel = 0.0;
        self.time = 0;
        obs.copy_from_slice(&[self.pos, self.vel]);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let a = action.scalar();
        let force = a.clamp(-1.0, 1.0);
        let mut vel = self.vel + force * 0.0015 - (3.0 * self.pos).cos() * MC_GRAVITY;
        vel = vel.clamp(-MC_MAX_SPEED, MC_MAX_SPEED);
        let pos = (self.pos + vel).clamp(MC_MIN_POS, MC_MAX_POS);
        // gymnax zeroes negative velocity at the *goal* bound (gym uses the lower bound).
        if pos >= 0.45 && vel < 0.0 {
            vel = 0.0;
        }
        let goal = pos >= 0.45 && vel >= 0.0;
        let reward = -0.1 * a * a + if goal { 100.0 } else { 0.0 };
        self.pos = pos;
        self.vel = vel;
        self.time += 1;
        obs.copy_from_slice(&[pos, vel]);
        outcome(reward, goal, self.time, 999)
    }
}

impl ClassicEnv for MountainCarContinuous {
    fn state(&self) -> Vec<f32> {
        vec![self.time as f32, self.pos, self.vel]
    }
    fn set_state(&mut self, state: &[f32]) {
        self.time = state[0] as u32;
        self.pos = state[1];
        self.vel = state[2];
    }
}

/// gymnax `Pendulum-v1`: obs `[cos th, sin th, th_dot]`, torque in `[-2, 2]`, 200 steps.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Pendulum {
    time: u32,
    theta: f32,
    theta_dot: f32,
    last_u: f32,
}

/// gymnax/gym `angle_normalize`: `((x + pi) mod 2 pi) - pi` with a floor modulo.
#[inline]
pub fn angle_normalize(x: f32) -> f32 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Pendulum {
    fn write_obs(&self, obs: &mut [f32]) {
        let (s, c) = self.theta.sin_cos();
        obs.copy_from_slice(&[c, s, self.theta_dot]);
    }
}

impl Env for Pendulum {
    fn obs_dim(&self) -> usize {
        3
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.theta = rng.uniform_f32(-PI, PI);
        self.theta_dot = rng.uniform_f32(-1.0, 1.0);
        self.last_u = 0.0;
        self.time = 0;
        self.write_obs(obs);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let u = action.scalar().clamp(-2.0, 2.0);
        let th = self.theta;
        let thn = angle_normalize(th);
        let reward = -(thn * thn + 0.1 * self.theta_dot * self.theta_dot + 0.001 * (u * u));
        let mut thdot = self.theta_dot + (15.0 * th.sin() + 3.0 * u) * 0.05;
        thdot = thdot.clamp(-8.0, 8.0);
        self.theta = th + thdot * 0.05;
        self.theta_dot = thdot;
        self.last_u = u;
        self.time += 1;
        self.write_obs(obs);
        outcome(reward, false, self.time, 200)
    }
}

impl ClassicEnv for Pendulum {
    fn state(&self) -> Vec<f32> {
        vec![self.time as f32, self.theta, self.theta_dot, self.last_u]
    }
    fn set_state(&mut self, state: &[f32]) {
        self.time = state[0] as u32;
        self.theta = state[1];
        self.theta_dot = state[2];
        self.last_u = state[3];
    }
}
