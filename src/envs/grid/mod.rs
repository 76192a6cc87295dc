//! MiniGrid-style grid worlds with an egocentric partial view (Chevalier-Boisvert et al.,
//! MiniGrid 2.x semantics): `Empty`, `FourRooms`, `DoorKey` and the `Memory` task.
//!
//! - Actions `Discrete(7)`: left, right, forward, pickup, drop, toggle, done.
//! - Observation: the `7 × 7 × 3` view image (object, colour, state indices as floats, exactly
//!   MiniGrid's `obs["image"]` flattened in C order, see [`view`]); walls and shut doors occlude.
//! - Reward `1 − 0.9 · steps / max_steps` on success, 0 otherwise; truncation at `max_steps`.
//! - Each env also counts the distinct cells the agent stood on per episode
//!   (`env/visited_cells`, an exploration measure).

pub mod tasks;
pub mod view;
pub mod world;

#[cfg(test)]
mod tests;

pub use tasks::Task;
use world::World;

use crate::envs::rng::Rng;
use crate::envs::vec::{Action, Env, Outcome};

/// Flat observation width: `7 · 7 · 3`.
pub const OBS_DIM: usize = view::VIEW * view::VIEW * 3;

/// Task names under `minigrid::`, in display order (the checker's table owns them).
pub fn task_names() -> impl Iterator<Item = &'static str> {
    crate::check::env_table::MINIGRID_TASKS
        .iter()
        .map(|(t, _)| *t)
}

/// One grid-world environment of a [`Task`].
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GridEnv {
    task: Task,
    world: World,
    memory: Option<tasks::MemoryTargets>,
}

impl GridEnv {
    /// A (not yet reset) environment of `task`.
    pub fn new(task: Task) -> Self {
        let s = task.size();
        GridEnv {
            task,
            world: World::new(s, s, task.max_steps()),
            memory: None,
        }
    }

    /// The world (for tests, oracles and scripted policies).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Memory task targets `(success, failure)` cells.
    pub fn memory_targets(&self) -> Option<tasks::MemoryTargets> {
        self.memory
    }
}

impl Env for GridEnv {
    fn obs_dim(&self) -> usize {
        OBS_DIM
    }

    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.memory = self.task.generate(&mut self.world, rng);
        view::observe(&self.world, view::VIEW, obs);
    }

    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let mut a = action.index();
        if self.memory.is_some() && a == world::act::PICKUP {
            a = world::act::TOGGLE;
        }
        let r = self.world.step(a);
        let mut out = Outcome {
            reward: 0.0,
            terminated: false,
            truncated: r.truncated,
        };
        if r.reached_goal {
            out.reward = self.world.success_reward();
            out.terminated = true;
        }
        if let Some((success, failure)) = self.memory {
            if self.world.pos == success {
                out.reward = self.world.success_reward();
                out.terminated = true;
            } else if self.world.pos == failure {
                out.reward = 0.0;
                out.terminated = true;
            }
        }
        view::observe(&self.world, view::VIEW, obs);
        out
    }

    fn visited_cells(&self) -> Option<u32> {
        Some(self.world.visited_count())
    }
}

/// Parse a canonical task name (`Empty-5x5`, `MemoryS13Random`, ...).
pub fn parse(name: &str) -> Option<Task> {
    let side = |s: &str| -> Option<usize> {
        let (a, b) = s.split_once('x')?;
        (a == b).then(|| a.parse().ok()).flatten()
    };
    if name == "FourRooms" {
        return Some(Task::FourRooms);
    }
    if let Some(rest) = name.strip_prefix("Empty-Random-") {
        return side(rest).map(|size| Task::Empty { size, random: true });
    }
    if let Some(rest) = name.strip_prefix("Empty-") {
        return side(rest).map(|size| Task::Empty {
            size,
            random: false,
        });
    }
    if let Some(rest) = name.strip_prefix("DoorKey-") {
        return side(rest).map(|size| Task::DoorKey { size });
    }
    let rest = name.strip_prefix("MemoryS")?;
    let (num, random) = match rest.strip_suffix("Random") {
        Some(n) => (n, true),
        None => (rest, false),
    };
    let size: usize = num.parse().ok()?;
    (size % 2 == 1 && size >= 7).then_some(Task::Memory { size, random })
}
