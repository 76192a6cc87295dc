//! The block runtime: lowered modules, carries, and the sequence/step contract of SPEC §6.
//!
//! Every block runs over a sequence `x: [T, B, F]` with `start: [T, B]` flags from a carry and
//! returns `(y: [T, B, F'], carry')`; acting is the same call with `T = 1`. `start[t, b]` resets
//! the carry of environment `b` to its initial value before `x[t, b]` is consumed.

pub mod attention;
pub mod basic;
pub mod carry;
pub mod conv;
pub mod ffm;
pub mod fused;
pub mod heads;
pub mod image;
pub mod layer;
pub mod linear_attention;
pub mod lru;
pub mod mamba;
pub mod moe;
pub mod net;
pub mod recurrent;
pub mod rl2;
pub mod rtrl;
pub mod rtu;
pub mod s5;
pub mod scan;
pub mod shm;
pub mod xlstm;
