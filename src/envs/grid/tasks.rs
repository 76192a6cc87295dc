//! Layouts of the MiniGrid tasks (MiniGrid 2.x `_gen_grid` rules; our RNG, so the same seed
//! gives other layouts than Python, with the same distribution).

use super::world::{Cell, World, colour, door, obj};
use crate::envs::rng::Rng;

/// Which task a [`super::GridEnv`] plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Task {
    /// `Empty-NxN`: walled room, agent at (1, 1) facing right (random pose if `random`), goal
    /// in the bottom-right corner; 4·N² steps.
    Empty {
        /// Side N.
        size: usize,
        /// Random start pose (`Empty-Random-NxN`).
        random: bool,
    },
    /// `FourRooms`: 19×19, four rooms joined by one gap per inner wall (random), random agent
    /// pose and goal; 100 steps.
    FourRooms,
    /// `DoorKey-NxN`: a wall splits the room; the goal lies behind a locked yellow door whose
    /// key is on the agent's side; 10·N² steps.
    DoorKey {
        /// Side N.
        size: usize,
    },
    /// `MemoryS<N>`: see an object (key or ball) in the start room, walk down the hallway and
    /// step next to the matching one of the two objects at its end; 5·N² steps. `pickup` acts
    /// as `toggle`. Stepping next to the other object ends the episode with reward 0.
    Memory {
        /// Side N (odd).
        size: usize,
        /// Random hallway length (`MemoryS<N>Random`).
        random: bool,
    },
}

/// Where the Memory task ends an episode: (success cell, failure cell).
pub type MemoryTargets = ((usize, usize), (usize, usize));

impl Task {
    /// World side.
    pub fn size(self) -> usize {
        match self {
            Task::Empty { size, .. } | Task::DoorKey { size } | Task::Memory { size, .. } => size,
            Task::FourRooms => 19,
        }
    }

    /// Episode limit (MiniGrid defaults).
    pub fn max_steps(self) -> u32 {
        let s = self.size() as u32;
        match self {
            Task::Empty { .. } => 4 * s * s,
            Task::FourRooms => 100,
            Task::DoorKey { .. } => 10 * s * s,
            Task::Memory { .. } => 5 * s * s,
        }
    }

    /// Lay out a fresh episode; returns the Memory targets for the Memory task.
    pub fn generate(self, w: &mut World, rng: &mut Rng) -> Option<MemoryTargets> {
        w.clear();
        match self {
            Task::Empty { size, random } => {
                w.set(size - 2, size - 2, Cell::GOAL);
                if random {
                    place_agent(w, rng, (0, 0), (size, size));
                } else {
                    w.put_agent((1, 1), 0);
                }
                None
            }
            Task::FourRooms => {
                four_rooms(w, rng);
                None
            }
            Task::DoorKey { size } => {
                w.set(size - 2, size - 2, Cell::GOAL);
                let split = 2 + rng.below((size - 4) as u32) as usize;
                for y in 0..size {
                    w.set(split, y, Cell::WALL);
                }
                place_agent(w, rng, (0, 0), (split, size));
                let d = 1 + rng.below((size - 3) as u32) as usize;
                w.set(split, d, Cell::new(obj::DOOR, colour::YELLOW, door::LOCKED));
                let k = w.random_empty(rng, (0, 0), (split, size), true);
                w.set(k.0, k.1, Cell::new(obj::KEY, colour::YELLOW, 0));
                None
            }
            Task::Memory { size, random } => Some(memory(w, rng, size, random)),
        }
    }
}

fn place_agent(w: &mut World, rng: &mut Rng, top: (usize, usize), size: (usize, usize)) {
    w.pos = (usize::MAX, usize::MAX);
    let p = w.random_empty(rng, top, size, false);
    let dir = rng.below(4) as u8;
    w.put_agent(p, dir);
}

fn four_rooms(w: &mut World, rng: &mut Rng) {
    let (room_w, room_h) = (w.width / 2, w.height / 2);
    for j in 0..2 {
        for i in 0..2 {
            let (xl, yt) = (i * room_w, j * room_h);
            let (xr, yb) = (xl + room_w, yt + room_h);
            if i + 1 < 2 {
                for y in yt..yt + room_h {
                    w.set(xr, y, Cell::WALL);
                }
                let gy = yt + 1 + rng.below((yb - yt - 1) as u32) as usize;
                w.set(xr, gy, Cell::EMPTY);
            }
            if j + 1 < 2 {
                for x in xl..xl + room_w {
                    w.set(x, yb, Cell::WALL);
                }
                let gx = xl + 1 + rng.below((xr - xl - 1) as u32) as usize;
                w.set(gx, yb, Cell::EMPTY);
            }
        }
    }
    let (wd, ht) = (w.width, w.height);
    place_agent(w, rng, (0, 0), (wd, ht));
    let g = w.random_empty(rng, (0, 0), (wd, ht), true);
    w.set(g.0, g.1, Cell::GOAL);
}

fn memory(w: &mut World, rng: &mut Rng, size: usize, random: bool) -> MemoryTargets {
    let (width, height) = (size, size);
    let mid = height / 2;
    let (upper, lower) = (mid - 2, mid + 2);
    let hallway_end = if random {
        4 + rng.below((width - 2 - 4) as u32) as usize
    } else {
        width - 3
    };
    for i in 1..5 {
        w.set(i, upper, Cell::WALL);
        w.set(i, lower, Cell::WALL);
    }
    w.set(4, upper + 1, Cell::WALL);
    w.set(4, lower - 1, Cell::WALL);
    for i in 5..hallway_end {
        w.set(i, upper + 1, Cell::WALL);
        w.set(i, lower - 1, Cell::WALL);
    }
    for j in 0..height {
        if j != mid {
            w.set(hallway_end, j, Cell::WALL);
        }
        w.set(hallway_end + 2, j, Cell::WALL);
    }
    let x = 1 + rng.below(hallway_end as u32) as usize;
    w.put_agent((x, mid), 0);
    let kind = |b: bool| if b { obj::KEY } else { obj::BALL };
    let start_is_key = rng.bool();
    w.set(1, mid - 1, Cell::new(kind(start_is_key), colour::GREEN, 0));
    let first_is_ball = rng.bool();
    let pos0 = (hallway_end + 1, mid - 2);
    let pos1 = (hallway_end + 1, mid + 2);
    w.set(
        pos0.0,
        pos0.1,
        Cell::new(kind(!first_is_ball), colour::GREEN, 0),
    );
    w.set(
        pos1.0,
        pos1.1,
        Cell::new(kind(first_is_ball), colour::GREEN, 0),
    );
    let up = (pos0.0, pos0.1 + 1);
    let down = (pos1.0, pos1.1 - 1);
    if start_is_key != first_is_ball {
        (up, down)
    } else {
        (down, up)
    }
}
