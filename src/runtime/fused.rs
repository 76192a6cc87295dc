//! Fused whole-sequence recurrent ops (placeholder until the fused kernels land: reference form).

use burn::prelude::*;

/// GRU over a whole sequence (see [`super::recurrent::gru_sequence_reference`]).
pub fn gru_sequence(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    reset: Tensor<2>,
) -> Tensor<3> {
    super::recurrent::gru_sequence_reference(gx, wh, bh, h0, reset)
}

/// LSTM over a whole sequence (see [`super::recurrent::lstm_sequence_reference`]).
pub fn lstm_sequence(
    gx: Tensor<3>,
    wh: Tensor<2>,
    bh: Tensor<1>,
    h0: Tensor<2>,
    c0: Tensor<2>,
    reset: Tensor<2>,
) -> (Tensor<3>, Tensor<3>) {
    super::recurrent::lstm_sequence_reference(gx, wh, bh, h0, c0, reset)
}
