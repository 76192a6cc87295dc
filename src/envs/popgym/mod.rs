//! The POPGym 1.0.7 suite (Morad et al., ICLR 2023) with the original rules, spaces and reward
//! scales; see `check::env_table` for the observation encoding and action flattening.
//!
//! Card games draw from uniformly shuffled decks (card `i` has suit `i % 4`, colour `i % 2`,
//! rank `(i / 4) % 13`), dealt one at a time by an incremental Fisher–Yates shuffle.
//! Faithful quirks kept on purpose: `VelocityOnlyCartPole` shows `[x, theta]` on reset (as
//! POPGym does); the Labyrinth view is shifted, not centred, at the grid border.

use super::rng::Rng;

pub mod cards;
pub mod control;
pub mod games;
pub mod labyrinth;

/// Id suffixes and their difficulty.
pub const DIFFICULTY_SUFFIXES: [(&str, Difficulty); 3] = [
    ("Easy", Difficulty::Easy),
    ("Medium", Difficulty::Medium),
    ("Hard", Difficulty::Hard),
];

/// A POPGym difficulty level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Difficulty {
    /// Easy.
    Easy,
    /// Medium.
    Medium,
    /// Hard.
    Hard,
}

impl Difficulty {
    /// 0, 1, 2 for Easy, Medium, Hard.
    pub fn index(self) -> usize {
        match self {
            Difficulty::Easy => 0,
            Difficulty::Medium => 1,
            Difficulty::Hard => 2,
        }
    }

    /// Parse `Easy`/`Medium`/`Hard`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Easy" => Some(Difficulty::Easy),
            "Medium" => Some(Difficulty::Medium),
            "Hard" => Some(Difficulty::Hard),
            _ => None,
        }
    }

    /// Pick the entry of `[easy, medium, hard]`.
    pub fn pick<T: Copy>(self, v: [T; 3]) -> T {
        v[self.index()]
    }
}

/// A shuffled deck of `52 * decks` cards, dealt from without replacement.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Deck {
    cards: Vec<u16>,
    remaining: usize,
}

impl Deck {
    /// A deck of `num_cards` cards.
    pub fn new(num_cards: usize) -> Self {
        Deck {
            cards: (0..num_cards as u16).collect(),
            remaining: num_cards,
        }
    }

    /// Put every card back (the next deals are a fresh uniform shuffle).
    #[inline]
    pub fn reset(&mut self) {
        self.remaining = self.cards.len();
    }

    /// Cards left to deal.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// Total number of cards.
    #[inline]
    pub fn size(&self) -> usize {
        self.cards.len()
    }

    /// Deal one uniformly random card among those left. Panics on an empty deck.
    #[inline]
    pub fn deal(&mut self, rng: &mut Rng) -> u16 {
        assert!(self.remaining > 0, "deck is empty");
        let j = rng.below(self.remaining as u32) as usize;
        self.remaining -= 1;
        self.cards.swap(j, self.remaining);
        self.cards[self.remaining]
    }
}

/// Suit of a card (0..4).
#[inline]
pub fn suit(card: u16) -> u8 {
    (card % 4) as u8
}

/// Rank of a card (0..13, ace = 0).
#[inline]
pub fn rank(card: u16) -> u8 {
    ((card / 4) % 13) as u8
}

/// Colour of a card (0 black, 1 red).
#[inline]
pub fn colour(card: u16) -> u8 {
    (card % 2) as u8
}

/// Which card attribute a game looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CardKind {
    /// 2 colours.
    Colour,
    /// 4 suits.
    Suit,
    /// 13 ranks.
    Rank,
}

impl CardKind {
    /// Number of distinct values.
    pub fn count(self) -> usize {
        match self {
            CardKind::Colour => 2,
            CardKind::Suit => 4,
            CardKind::Rank => 13,
        }
    }

    /// The attribute of `card`.
    #[inline]
    pub fn of(self, card: u16) -> u8 {
        match self {
            CardKind::Colour => colour(card),
            CardKind::Suit => suit(card),
            CardKind::Rank => rank(card),
        }
    }
}
