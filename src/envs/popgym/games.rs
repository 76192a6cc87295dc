//! POPGym board games: Battleship and MineSweeper (MultiDiscrete actions flattened row-major).

use super::Difficulty;
use crate::envs::rng::Rng;
use crate::envs::vec::{Action, Env, Outcome, one_hot};

const SHIPS: [usize; 4] = [2, 3, 3, 4];
const NEEDED_HITS: u32 = 12;

/// Battleship on a `B x B` board with ships of length 2, 3, 3, 4.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Battleship {
    b: usize,
    board: Vec<bool>,
    guesses: Vec<bool>,
    hits: u32,
    steps: usize,
}

impl Battleship {
    /// Board side per difficulty: 8, 10, 12.
    pub fn new(d: Difficulty) -> Self {
        let b = d.pick([8, 10, 12]);
        Battleship {
            b,
            board: vec![false; b * b],
            guesses: vec![false; b * b],
            hits: 0,
            steps: 0,
        }
    }

    /// Whether cell `index` (row-major) holds a ship (for oracles).
    pub fn is_ship(&self, index: usize) -> bool {
        self.board[index]
    }

    fn place(&mut self, size: usize, rng: &mut Rng) {
        let b = self.b as i64;
        loop {
            let start = [
                rng.below(self.b as u32) as i64,
                rng.below(self.b as u32) as i64,
            ];
            let axis = rng.below(2) as usize;
            let sign = if rng.below(2) == 0 { 1 } else { -1 };
            let mut end = start;
            end[axis] += sign * (size as i64 - 1);
            if end.iter().any(|&v| v < 0 || v >= b) {
                continue;
            }
            let lo = [start[0].min(end[0]) as usize, start[1].min(end[1]) as usize];
            let hi = [start[0].max(end[0]) as usize, start[1].max(end[1]) as usize];
            let cells = || (lo[0]..=hi[0]).flat_map(move |r| (lo[1]..=hi[1]).map(move |c| (r, c)));
            if cells().any(|(r, c)| self.board[r * self.b + c]) {
                continue;
            }
            for (r, c) in cells() {
                self.board[r * self.b + c] = true;
            }
            return;
        }
    }
}

impl Env for Battleship {
    fn obs_dim(&self) -> usize {
        2
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.board.fill(false);
        for size in SHIPS {
            self.place(size, rng);
        }
        self.guesses.fill(false);
        self.hits = 0;
        self.steps = 0;
        one_hot(obs, 0);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let cells = self.b * self.b;
        let a = (action.index() as usize).min(cells - 1);
        let hit = self.board[a] && !self.guesses[a];
        self.guesses[a] = true;
        if hit {
            self.hits += 1;
        }
        self.steps += 1;
        one_hot(obs, usize::from(hit));
        let reward = if hit {
            1.0 / NEEDED_HITS as f64
        } else {
            -1.0 / (cells - NEEDED_HITS as usize) as f64
        };
        Outcome {
            reward: reward as f32,
            terminated: self.hits == NEEDED_HITS,
            truncated: self.steps >= cells,
        }
    }
}

/// MineSweeper on an `H x W` grid; the observation is the mine count of the 3x3 window
/// (including the cell itself) around the clicked cell.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct MineSweeper {
    side: usize,
    mines: usize,
    /// 0 clear, 1 mine, 2 viewed.
    grid: Vec<u8>,
    neighbours: Vec<u8>,
    order: Vec<u16>,
    clear_left: usize,
    t: usize,
}

impl MineSweeper {
    /// (side, mines) per difficulty: (4, 2), (6, 6), (8, 10).
    pub fn new(d: Difficulty) -> Self {
        let (side, mines) = d.pick([(4, 2), (6, 6), (8, 10)]);
        let n = side * side;
        MineSweeper {
            side,
            mines,
            grid: vec![0; n],
            neighbours: vec![0; n],
            order: (0..n as u16).collect(),
            clear_left: n - mines,
            t: 0,
        }
    }

    /// Whether cell `index` (row-major) holds a mine (for oracles).
    pub fn is_mine(&self, index: usize) -> bool {
        self.grid[index] == 1
    }

    fn limit(&self) -> usize {
        self.side * self.side - self.mines
    }
}

impl Env for MineSweeper {
    fn obs_dim(&self) -> usize {
        (self.mines + 1).min(10)
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        let n = self.side * self.side;
        self.grid.fill(0);
        self.neighbours.fill(0);
        for i in 0..self.mines {
            let j = i + rng.below((n - i) as u32) as usize;
            self.order.swap(i, j);
            self.grid[self.order[i] as usize] = 1;
        }
        let s = self.side as i64;
        for idx in 0..n {
            if self.grid[idx] != 1 {
                continue;
            }
            let (r, c) = ((idx / self.side) as i64, (idx % self.side) as i64);
            for dr in -1..=1 {
                for dc in -1..=1 {
                    let (rr, cc) = (r + dr, c + dc);
                    if (0..s).contains(&rr) && (0..s).contains(&cc) {
                        self.neighbours[(rr * s + cc) as usize] += 1;
                    }
                }
            }
        }
        self.clear_left = n - self.mines;
        self.t = 0;
        one_hot(obs, 0);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let l = self.limit() as f64;
        let a = (action.index() as usize).min(self.grid.len() - 1);
        let mut terminated = false;
        let reward = match self.grid[a] {
            1 => {
                terminated = true;
                -0.5 - 1.0 / l
            }
            2 => -0.5 / (l - 2.0),
            _ => {
                self.grid[a] = 2;
                self.clear_left -= 1;
                1.0 / l
            }
        };
        self.t += 1;
        terminated |= self.clear_left == 0;
        one_hot(obs, self.neighbours[a] as usize);
        Outcome {
            reward: reward as f32,
            terminated,
            truncated: self.t == self.limit() && !terminated,
        }
    }
}
