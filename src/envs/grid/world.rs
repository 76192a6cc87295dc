//! The grid world core shared by every MiniGrid-style task: cells, the agent, and the
//! MiniGrid action semantics (turn, forward, pickup, drop, toggle, done).

use crate::envs::rng::Rng;

/// Object type indices (MiniGrid's `OBJECT_TO_IDX`).
pub mod obj {
    /// Outside the visible area.
    pub const UNSEEN: u8 = 0;
    /// Empty floor.
    pub const EMPTY: u8 = 1;
    /// Wall.
    pub const WALL: u8 = 2;
    /// Door (state: open 0, closed 1, locked 2).
    pub const DOOR: u8 = 4;
    /// Key.
    pub const KEY: u8 = 5;
    /// Ball.
    pub const BALL: u8 = 6;
    /// Box.
    pub const BOX: u8 = 7;
    /// Goal square.
    pub const GOAL: u8 = 8;
}

/// Colour indices (MiniGrid's `COLOR_TO_IDX`).
pub mod colour {
    /// Red.
    pub const RED: u8 = 0;
    /// Green.
    pub const GREEN: u8 = 1;
    /// Yellow.
    pub const YELLOW: u8 = 4;
    /// Grey.
    pub const GREY: u8 = 5;
}

/// Door states.
pub mod door {
    /// Open (passable, see-through).
    pub const OPEN: u8 = 0;
    /// Closed.
    pub const CLOSED: u8 = 1;
    /// Locked (opens with a key of the same colour).
    pub const LOCKED: u8 = 2;
}

/// The seven MiniGrid actions.
pub mod act {
    /// Turn left.
    pub const LEFT: u32 = 0;
    /// Turn right.
    pub const RIGHT: u32 = 1;
    /// Move forward.
    pub const FORWARD: u32 = 2;
    /// Pick up the object in front.
    pub const PICKUP: u32 = 3;
    /// Drop the carried object in front.
    pub const DROP: u32 = 4;
    /// Toggle (open/close/unlock) the object in front.
    pub const TOGGLE: u32 = 5;
    /// Done (no effect).
    pub const DONE: u32 = 6;
    /// Number of actions.
    pub const COUNT: usize = 7;
}

/// One grid cell as MiniGrid encodes it: (object, colour, state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// Object type index ([`obj`]).
    pub obj: u8,
    /// Colour index ([`colour`]).
    pub colour: u8,
    /// State (doors only).
    pub state: u8,
}

impl Cell {
    /// Empty floor.
    pub const EMPTY: Cell = Cell::new(obj::EMPTY, 0, 0);
    /// A grey wall.
    pub const WALL: Cell = Cell::new(obj::WALL, colour::GREY, 0);
    /// A green goal.
    pub const GOAL: Cell = Cell::new(obj::GOAL, colour::GREEN, 0);

    /// A cell from its encoding.
    pub const fn new(obj: u8, colour: u8, state: u8) -> Self {
        Cell { obj, colour, state }
    }

    /// True for an empty cell.
    pub fn is_empty(self) -> bool {
        self.obj == obj::EMPTY
    }

    /// The agent may stand on it (empty, goal, open door).
    pub fn can_overlap(self) -> bool {
        match self.obj {
            obj::EMPTY | obj::GOAL => true,
            obj::DOOR => self.state == door::OPEN,
            _ => false,
        }
    }

    /// The agent sees past it (everything but walls and shut doors).
    pub fn see_behind(self) -> bool {
        match self.obj {
            obj::WALL => false,
            obj::DOOR => self.state == door::OPEN,
            _ => true,
        }
    }

    /// It can be carried (keys, balls, boxes).
    pub fn can_pickup(self) -> bool {
        matches!(self.obj, obj::KEY | obj::BALL | obj::BOX)
    }
}

/// Unit vector of a direction: 0 right (+x), 1 down (+y), 2 left, 3 up.
pub fn dir_vec(dir: u8) -> (i64, i64) {
    [(1, 0), (0, 1), (-1, 0), (0, -1)][(dir & 3) as usize]
}

/// A rectangular world with one agent.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct World {
    /// Width (x extent).
    pub width: usize,
    /// Height (y extent).
    pub height: usize,
    /// Cells, row-major by `y * width + x`.
    pub cells: Vec<Cell>,
    /// Agent position `(x, y)`.
    pub pos: (usize, usize),
    /// Agent direction (0 right, 1 down, 2 left, 3 up).
    pub dir: u8,
    /// The object the agent carries.
    pub carrying: Option<Cell>,
    /// Steps taken in this episode.
    pub steps: u32,
    /// Episode limit (truncation).
    pub max_steps: u32,
    /// Cells the agent has stood on in this episode.
    pub visited: Vec<bool>,
}

/// What one world step did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepResult {
    /// The agent walked onto the goal.
    pub reached_goal: bool,
    /// The step limit is reached.
    pub truncated: bool,
}

impl World {
    /// An empty `width × height` world (no walls yet).
    pub fn new(width: usize, height: usize, max_steps: u32) -> Self {
        World {
            width,
            height,
            cells: vec![Cell::EMPTY; width * height],
            pos: (1, 1),
            dir: 0,
            carrying: None,
            steps: 0,
            max_steps,
            visited: vec![false; width * height],
        }
    }

    /// Clear to empty floor with an outer wall; reset agent bookkeeping.
    pub fn clear(&mut self) {
        let (w, h) = (self.width, self.height);
        self.cells.fill(Cell::EMPTY);
        for x in 0..w {
            self.set(x, 0, Cell::WALL);
            self.set(x, h - 1, Cell::WALL);
        }
        for y in 0..h {
            self.set(0, y, Cell::WALL);
            self.set(w - 1, y, Cell::WALL);
        }
        self.carrying = None;
        self.steps = 0;
        self.visited.fill(false);
    }

    /// The cell at `(x, y)`.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> Cell {
        self.cells[y * self.width + x]
    }

    /// The cell at signed coordinates; outside the world is a wall (as MiniGrid's `slice`).
    #[inline]
    pub fn get_or_wall(&self, x: i64, y: i64) -> Cell {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            Cell::WALL
        } else {
            self.get(x as usize, y as usize)
        }
    }

    /// Set the cell at `(x, y)`.
    #[inline]
    pub fn set(&mut self, x: usize, y: usize, c: Cell) {
        self.cells[y * self.width + x] = c;
    }

    /// Place the agent and mark its cell visited.
    pub fn put_agent(&mut self, pos: (usize, usize), dir: u8) {
        self.pos = pos;
        self.dir = dir & 3;
        self.visited[pos.1 * self.width + pos.0] = true;
    }

    /// Distinct cells the agent has stood on this episode.
    pub fn visited_count(&self) -> u32 {
        self.visited.iter().filter(|&&v| v).count() as u32
    }

    /// The cell in front of the agent (always inside the world: the border is walled).
    pub fn front(&self) -> (usize, usize) {
        let (dx, dy) = dir_vec(self.dir);
        let x = (self.pos.0 as i64 + dx).clamp(0, self.width as i64 - 1);
        let y = (self.pos.1 as i64 + dy).clamp(0, self.height as i64 - 1);
        (x as usize, y as usize)
    }

    /// A uniformly random empty cell of the rectangle `top .. top + size`, not under the agent
    /// (MiniGrid's `place_obj` rejection sampling). `agent` says whether an agent is placed.
    pub fn random_empty(
        &self,
        rng: &mut Rng,
        top: (usize, usize),
        size: (usize, usize),
        agent: bool,
    ) -> (usize, usize) {
        let x_end = (top.0 + size.0).min(self.width);
        let y_end = (top.1 + size.1).min(self.height);
        loop {
            let x = top.0 + rng.below((x_end - top.0) as u32) as usize;
            let y = top.1 + rng.below((y_end - top.1) as u32) as usize;
            if !self.get(x, y).is_empty() || (agent && (x, y) == self.pos) {
                continue;
            }
            return (x, y);
        }
    }

    /// MiniGrid's success reward `1 − 0.9 · steps / max_steps`.
    pub fn success_reward(&self) -> f32 {
        1.0 - 0.9 * (self.steps as f32 / self.max_steps as f32)
    }

    /// Apply one MiniGrid action (unknown indices act as `done`).
    pub fn step(&mut self, action: u32) -> StepResult {
        self.steps += 1;
        let mut r = StepResult::default();
        let (fx, fy) = self.front();
        let fwd = self.get(fx, fy);
        match action {
            act::LEFT => self.dir = (self.dir + 3) & 3,
            act::RIGHT => self.dir = (self.dir + 1) & 3,
            act::FORWARD => {
                if fwd.can_overlap() {
                    self.put_agent((fx, fy), self.dir);
                }
                r.reached_goal = fwd.obj == obj::GOAL;
            }
            act::PICKUP if fwd.can_pickup() && self.carrying.is_none() => {
                self.carrying = Some(fwd);
                self.set(fx, fy, Cell::EMPTY);
            }
            act::DROP => {
                if fwd.is_empty()
                    && let Some(c) = self.carrying.take()
                {
                    self.set(fx, fy, c);
                }
            }
            act::TOGGLE if fwd.obj == obj::DOOR => {
                let mut d = fwd;
                if d.state == door::LOCKED {
                    let key = self
                        .carrying
                        .is_some_and(|c| c.obj == obj::KEY && c.colour == d.colour);
                    if key {
                        d.state = door::OPEN;
                    }
                } else {
                    d.state = if d.state == door::OPEN {
                        door::CLOSED
                    } else {
                        door::OPEN
                    };
                }
                self.set(fx, fy, d);
            }
            _ => {}
        }
        r.truncated = self.steps >= self.max_steps;
        r
    }
}
