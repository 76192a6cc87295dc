//! POPGym card games: RepeatPrevious, RepeatFirst, CountRecall, Autoencode, HigherLower,
//! Concentration.

use super::{CardKind, Deck, Difficulty, rank, suit};
use crate::envs::rng::Rng;
use crate::envs::vec::{Action, Env, Outcome, one_hot};

#[inline]
fn signed(ok: bool, scale: f64) -> f32 {
    (if ok { scale } else { -scale }) as f32
}

/// RepeatPrevious: output the suit shown `k - 1` observations before the current one.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RepeatPrevious {
    deck: Deck,
    k: usize,
    hand: Vec<u8>,
}

impl RepeatPrevious {
    /// Decks and `k` per difficulty: (1, 4), (2, 32), (3, 64).
    pub fn new(d: Difficulty) -> Self {
        let (decks, k) = d.pick([(1, 4), (2, 32), (3, 64)]);
        RepeatPrevious {
            deck: Deck::new(52 * decks),
            k,
            hand: Vec::with_capacity(52 * decks),
        }
    }

    /// The suit the agent must output now, if the step is scored.
    pub fn target(&self) -> Option<u8> {
        (self.hand.len() >= self.k).then(|| self.hand[self.hand.len() - self.k])
    }
}

impl Env for RepeatPrevious {
    fn obs_dim(&self) -> usize {
        4
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.deck.reset();
        self.hand.clear();
        let s = suit(self.deck.deal(rng));
        self.hand.push(s);
        one_hot(obs, s as usize);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let scale = 1.0 / (self.deck.size() - self.k) as f64;
        let terminated = self.deck.remaining() == 1;
        let reward = match self.target() {
            Some(t) => signed(action.index() == t as u32, scale),
            None => 0.0,
        };
        let s = suit(self.deck.deal(rng));
        self.hand.push(s);
        one_hot(obs, s as usize);
        Outcome {
            reward,
            terminated,
            truncated: false,
        }
    }
}

/// RepeatFirst: output the suit of the first card at every step.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RepeatFirst {
    deck: Deck,
    first: u8,
}

impl RepeatFirst {
    /// Decks per difficulty: 1, 8, 16.
    pub fn new(d: Difficulty) -> Self {
        RepeatFirst {
            deck: Deck::new(52 * d.pick([1, 8, 16])),
            first: 0,
        }
    }

    /// The suit of the first card.
    pub fn first(&self) -> u8 {
        self.first
    }
}

impl Env for RepeatFirst {
    fn obs_dim(&self) -> usize {
        4
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.deck.reset();
        self.first = suit(self.deck.deal(rng));
        one_hot(obs, self.first as usize);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let scale = 1.0 / (self.deck.size() - 1) as f64;
        let reward = signed(action.index() == self.first as u32, scale);
        let terminated = self.deck.remaining() == 1;
        one_hot(obs, suit(self.deck.deal(rng)) as usize);
        Outcome {
            reward,
            terminated,
            truncated: false,
        }
    }
}

/// CountRecall: say how often the queried kind has been dealt (including the current card).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CountRecall {
    values: Deck,
    queries: Deck,
    kind: CardKind,
    counts: Vec<u32>,
    query: u8,
}

impl CountRecall {
    /// (decks, kind) per difficulty: (1, colour), (2, suit), (4, rank).
    pub fn new(d: Difficulty) -> Self {
        let (decks, kind) = d.pick([
            (1, CardKind::Colour),
            (2, CardKind::Suit),
            (4, CardKind::Rank),
        ]);
        CountRecall {
            values: Deck::new(52 * decks),
            queries: Deck::new(52 * decks),
            kind,
            counts: vec![0; kind.count()],
            query: 0,
        }
    }

    /// The correct answer for the current observation.
    pub fn answer(&self) -> u32 {
        self.counts[self.query as usize]
    }

    fn deal(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        let v = self.kind.of(self.values.deal(rng));
        self.query = self.kind.of(self.queries.deal(rng));
        self.counts[v as usize] += 1;
        let n = self.kind.count();
        obs.fill(0.0);
        obs[v as usize] = 1.0;
        obs[n + self.query as usize] = 1.0;
    }
}

impl Env for CountRecall {
    fn obs_dim(&self) -> usize {
        2 * self.kind.count()
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.values.reset();
        self.queries.reset();
        self.counts.fill(0);
        self.deal(rng, obs);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let prev = self.answer();
        self.deal(rng, obs);
        let scale = 1.0 / (self.values.size() - 1) as f64;
        Outcome {
            reward: signed(action.index() == prev, scale),
            terminated: self.values.remaining() == 0,
            truncated: false,
        }
    }
}

/// Autoencode: watch the whole deck, then output the suits in reverse order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Autoencode {
    deck: Deck,
    stack: Vec<u8>,
    watch: bool,
}

impl Autoencode {
    /// Decks per difficulty: 1, 2, 3.
    pub fn new(d: Difficulty) -> Self {
        let n = 52 * d.pick([1, 2, 3]);
        Autoencode {
            deck: Deck::new(n),
            stack: Vec::with_capacity(n),
            watch: true,
        }
    }

    /// The suit expected now (`None` while watching).
    pub fn expected(&self) -> Option<u8> {
        (!self.watch).then(|| *self.stack.last().unwrap_or(&0))
    }

    fn write(&self, obs: &mut [f32], s: u8) {
        obs.fill(0.0);
        obs[usize::from(self.watch)] = 1.0;
        obs[2 + s as usize] = 1.0;
    }
}

impl Env for Autoencode {
    fn obs_dim(&self) -> usize {
        6
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.deck.reset();
        self.stack.clear();
        self.watch = true;
        let s = suit(self.deck.deal(rng));
        self.stack.push(s);
        self.write(obs, s);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        if self.watch {
            let s = suit(self.deck.deal(rng));
            self.stack.push(s);
            if self.deck.remaining() == 0 {
                self.watch = false;
            }
            self.write(obs, s);
            return Outcome::default();
        }
        let terminated = self.stack.len() == 1;
        let correct = self.stack.pop().unwrap_or(0);
        let scale = 1.0 / self.deck.size() as f64;
        self.write(obs, 0);
        Outcome {
            reward: signed(action.index() == correct as u32, scale),
            terminated,
            truncated: false,
        }
    }
}

/// HigherLower: guess whether the next card's rank is higher (0) or lower (1).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct HigherLower {
    deck: Deck,
    current: u8,
}

impl HigherLower {
    /// Decks per difficulty: 1, 2, 3.
    pub fn new(d: Difficulty) -> Self {
        HigherLower {
            deck: Deck::new(52 * d.pick([1, 2, 3])),
            current: 0,
        }
    }
}

impl Env for HigherLower {
    fn obs_dim(&self) -> usize {
        13
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.deck.reset();
        self.current = rank(self.deck.deal(rng));
        one_hot(obs, self.current as usize);
    }
    fn step(&mut self, action: Action<'_>, rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let higher = action.index() == 0;
        let terminated = self.deck.remaining() <= 1;
        let next = rank(self.deck.deal(rng));
        let scale = 1.0 / self.deck.size() as f64;
        let reward = if next == self.current {
            0.0
        } else {
            signed((next > self.current) == higher, scale)
        };
        self.current = next;
        one_hot(obs, next as usize);
        Outcome {
            reward,
            terminated,
            truncated: false,
        }
    }
}

/// Concentration: flip face-down cards two at a time to find matching pairs.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Concentration {
    deck: Deck,
    kind: CardKind,
    types: Vec<u8>,
    face_up: Vec<bool>,
    num_up: usize,
    in_play: [usize; 2],
    num_in_play: usize,
    t: usize,
    limit: usize,
}

impl Concentration {
    /// (decks, match on) per difficulty: (1, colour), (2, colour), (1, rank).
    pub fn new(d: Difficulty) -> Self {
        let (decks, kind) = d.pick([
            (1, CardKind::Colour),
            (2, CardKind::Colour),
            (1, CardKind::Rank),
        ]);
        let n = 52 * decks;
        Concentration {
            deck: Deck::new(n),
            kind,
            types: vec![0; n],
            face_up: vec![false; n],
            num_up: 0,
            in_play: [0; 2],
            num_in_play: 0,
            t: 0,
            limit: crate::check::env_table::concentration_steps(n),
        }
    }

    /// The hidden value at every position (for oracles).
    pub fn types(&self) -> &[u8] {
        &self.types
    }

    fn write(&self, obs: &mut [f32]) {
        let w = self.kind.count() + 1;
        obs.fill(0.0);
        let down = self.kind.count();
        for (p, chunk) in obs.chunks_exact_mut(w).enumerate() {
            let shown = self.face_up[p] || self.in_play[..self.num_in_play].contains(&p);
            chunk[if shown { self.types[p] as usize } else { down }] = 1.0;
        }
    }
}

impl Env for Concentration {
    fn obs_dim(&self) -> usize {
        self.types.len() * (self.kind.count() + 1)
    }
    fn reset(&mut self, rng: &mut Rng, obs: &mut [f32]) {
        self.deck.reset();
        for p in 0..self.types.len() {
            self.types[p] = self.kind.of(self.deck.deal(rng));
        }
        self.face_up.fill(false);
        self.num_up = 0;
        self.num_in_play = 0;
        self.t = 0;
        self.write(obs);
    }
    fn step(&mut self, action: Action<'_>, _rng: &mut Rng, obs: &mut [f32]) -> Outcome {
        let n = self.types.len();
        let fail = -1.0 / self.limit as f64;
        let truncated = self.t + 1 >= self.limit;
        let a = (action.index() as usize).min(n - 1);
        self.in_play[self.num_in_play] = a;
        self.num_in_play += 1;
        self.write(obs);
        let mut reward = 0.0;
        let mut terminated = false;
        let played = &self.in_play[..self.num_in_play];
        if played.iter().any(|&p| self.face_up[p]) {
            reward = fail * self.num_in_play as f64;
            self.num_in_play = 0;
        } else if self.num_in_play == 2 {
            let [p, q] = self.in_play;
            if p != q && self.types[p] == self.types[q] {
                reward = 1.0 / (n / 2) as f64;
                self.face_up[p] = true;
                self.face_up[q] = true;
                self.num_up += 2;
                terminated = self.num_up == n;
            } else {
                reward = 2.0 * fail;
            }
            self.num_in_play = 0;
        }
        self.t += 1;
        Outcome {
            reward: reward as f32,
            terminated,
            truncated,
        }
    }
}
