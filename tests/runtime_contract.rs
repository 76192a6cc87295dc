//! The runtime contract of SPEC §6 for every lowered block: the sequence form with resets equals
//! stepping one step at a time and any chunking; nothing before a `start` influences anything
//! after it; gradients flow and match finite differences; `init_carry` is deterministic; burn's
//! parameter count equals the checker's analytic count.

mod common;

use common::contract;
use memoraxc::lower::ir_builder as b;

#[test]
fn pointwise_blocks() {
    let _guard = common::serial();
    contract(b::linear(5, 4), 1e-5);
    contract(b::mlp(5, &[8, 6], "relu"), 1e-5);
    contract(b::act("tanh", 4), 1e-6);
    contract(b::layernorm(6), 1e-5);
    contract(b::ffn(4, 2), 1e-5);
    contract(b::residual(b::ffn(4, 2)), 1e-5);
    contract(b::gated_residual(b::prenorm(b::ffn(4, 2))), 1e-5);
}

#[test]
fn gru_block() {
    let _guard = common::serial();
    contract(b::gru(5, 6), 1e-5);
    contract(b::residual(b::prenorm(b::gru(6, 6))), 1e-5);
}

#[test]
fn lstm_block() {
    let _guard = common::serial();
    contract(b::lstm(5, 6), 1e-5);
}

#[test]
fn mingru_block() {
    let _guard = common::serial();
    contract(b::mingru(5, 6), 1e-5);
}

#[test]
fn stacked_recurrent_blocks() {
    let _guard = common::serial();
    contract(
        b::seq(vec![b::gru(4, 6), b::lstm(6, 5), b::mingru(5, 4)]),
        1e-5,
    );
}

#[test]
fn attention_blocks() {
    let _guard = common::serial();
    for pos in ["none", "alibi", "rope"] {
        contract(b::attention(8, 2, 4, pos), 1e-5);
    }
    // window longer than the sequence
    contract(b::attention(8, 4, 16, "alibi"), 1e-5);
    // heads 8 and 16 wide: the step's AVX2 kernel where the CPU has it
    contract(b::attention(16, 2, 11, "alibi"), 1e-5);
    contract(b::attention(32, 2, 5, "none"), 1e-5);
}

#[test]
fn segment_recurrence_block() {
    let _guard = common::serial();
    contract(
        b::segment_recurrence(b::attention(8, 2, 3, "alibi"), 2),
        1e-5,
    );
    contract(
        b::gated_residual(b::prenorm(b::segment_recurrence(
            b::attention(8, 2, 4, "none"),
            4,
        ))),
        1e-5,
    );
    // GTrXL-like widths (heads of 12, width 48: vectorised and remainder lanes of the step path)
    contract(
        b::segment_recurrence(b::attention(48, 4, 5, "alibi"), 3),
        1e-4,
    );
    // heads 16 wide (as in GTrXL): the step's AVX2 kernel, with memory rows scored in blocks
    // of 8 and a remainder
    contract(
        b::segment_recurrence(b::attention(32, 2, 5, "alibi"), 11),
        1e-4,
    );
}
