//! The burn backend extension: the fused ops on `Flex` (forward only) and on `Autodiff<Flex>`
//! (forward that records a tape + a hand-written backward node).

use std::borrow::Cow;
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{DType, TensorData};

use super::Dims;
use super::gru::{self, GruInputs, GruTape};
use super::lstm::{self, LstmInputs, LstmTape};

/// Whole-sequence recurrent ops implemented as single custom ops (see the parent module).
#[backend_extension(Flex, Autodiff)]
pub(crate) trait FusedRecurrentBackend: Backend {
    /// GRU over a sequence: `gx [T,B,3H], wh [H,3H], bh [3H], h0 [B,H], reset [T,B] → hs [T,B,H]`.
    fn fused_gru_sequence(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// LSTM over a sequence: `gx [T,B,4H], wh [H,4H], bh [4H], h0, c0 [B,H], reset [T,B]` →
    /// `[2,T,B,H]` (`hs` then `cs`).
    fn fused_lstm_sequence(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The tensor's elements as a contiguous f32 slice (borrowed when already contiguous).
fn f32s(t: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "fused recurrent ops take f32 tensors"
    );
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.clone()
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 tensor data"),
        ),
    }
}

/// A contiguous f32 Flex tensor owning `data`.
fn flex_tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// Sequence sizes from `gx: [T, B, G·H]` and `h0: [B, H]`.
fn dims(gx: &FlexTensor, h0: &FlexTensor) -> Dims {
    let (gs, hs) = (gx.shape(), h0.shape());
    Dims {
        t: gs[0],
        b: gs[1],
        h: hs[1],
    }
}

/// Runs the GRU forward on Flex tensors, optionally recording the tape.
fn gru_forward(
    gx: &FlexTensor,
    wh: &FlexTensor,
    bh: &FlexTensor,
    h0: &FlexTensor,
    reset: &FlexTensor,
    tape: Option<&mut GruTape>,
) -> (Dims, FlexTensor) {
    let d = dims(gx, h0);
    let (gx, wh, bh, h0, reset) = (f32s(gx), f32s(wh), f32s(bh), f32s(h0), f32s(reset));
    let inputs = GruInputs {
        gx: &gx,
        wh: &wh,
        bh: &bh,
        h0: &h0,
        reset: &reset,
    };
    let hs = gru::gru_forward(d, inputs, tape);
    (d, flex_tensor(hs, [d.t, d.b, d.h]))
}

impl FusedRecurrentBackend for Flex {
    fn fused_gru_sequence(
        gx: FlexTensor,
        wh: FlexTensor,
        bh: FlexTensor,
        h0: FlexTensor,
        reset: FlexTensor,
    ) -> FlexTensor {
        gru_forward(&gx, &wh, &bh, &h0, &reset, None).1
    }

    fn fused_lstm_sequence(
        gx: FlexTensor,
        wh: FlexTensor,
        bh: FlexTensor,
        h0: FlexTensor,
        c0: FlexTensor,
        reset: FlexTensor,
    ) -> FlexTensor {
        lstm_forward([&gx, &wh, &bh, &h0, &c0, &reset], None).1
    }
}

/// What the GRU backward node keeps from its forward pass.
struct GruState {
    d: Dims,
    wh: Vec<f32>,
    reset: Vec<f32>,
    tape: GruTape,
}

impl std::fmt::Debug for GruState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GruState")
            .field("dims", &self.d)
            .finish_non_exhaustive()
    }
}

/// Backward node of the fused GRU; parents are (gx, wh, bh, h0).
#[derive(Debug)]
struct GruBackward;

impl Backward<Flex, 4> for GruBackward {
    type State = Arc<GruState>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [gx_node, wh_node, bh_node, h0_node] = ops.parents;
        let dhs = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let d = st.d;
        let g = gru::gru_backward(d, &st.wh, &st.reset, &st.tape, &f32s(&dhs));
        let h3 = 3 * d.h;
        if let Some(node) = gx_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dgx, [d.t, d.b, h3]));
        }
        if let Some(node) = wh_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dwh, [d.h, h3]));
        }
        if let Some(node) = bh_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dbh, [h3]));
        }
        if let Some(node) = h0_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dh0, [d.b, d.h]));
        }
    }
}

/// Runs the LSTM forward on Flex tensors, optionally recording the tape; the output packs
/// `[hs; cs]` as `[2, T, B, H]`.
fn lstm_forward(
    [gx, wh, bh, h0, c0, reset]: [&FlexTensor; 6],
    tape: Option<&mut LstmTape>,
) -> (Dims, FlexTensor) {
    let d = dims(gx, h0);
    let (gx, wh, bh) = (f32s(gx), f32s(wh), f32s(bh));
    let (h0, c0, reset) = (f32s(h0), f32s(c0), f32s(reset));
    let inputs = LstmInputs {
        gx: &gx,
        wh: &wh,
        bh: &bh,
        h0: &h0,
        c0: &c0,
        reset: &reset,
    };
    let out = lstm::lstm_forward(d, inputs, tape);
    (d, flex_tensor(out, [2, d.t, d.b, d.h]))
}

/// What the LSTM backward node keeps from its forward pass.
struct LstmState {
    d: Dims,
    wh: Vec<f32>,
    reset: Vec<f32>,
    tape: LstmTape,
}

impl std::fmt::Debug for LstmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LstmState")
            .field("dims", &self.d)
            .finish_non_exhaustive()
    }
}

/// Backward node of the fused LSTM; parents are (gx, wh, bh, h0, c0).
#[derive(Debug)]
struct LstmBackward;

impl Backward<Flex, 5> for LstmBackward {
    type State = Arc<LstmState>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [gx_node, wh_node, bh_node, h0_node, c0_node] = ops.parents;
        let dout = grads.consume::<Flex>(&ops.node);
        let st = ops.state;
        let d = st.d;
        let g = lstm::lstm_backward(d, &st.wh, &st.reset, &st.tape, &f32s(&dout));
        let h4 = 4 * d.h;
        if let Some(node) = gx_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dgx, [d.t, d.b, h4]));
        }
        if let Some(node) = wh_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dwh, [d.h, h4]));
        }
        if let Some(node) = bh_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dbh, [h4]));
        }
        if let Some(node) = h0_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dh0, [d.b, d.h]));
        }
        if let Some(node) = c0_node {
            grads.register::<Flex>(node.id, flex_tensor(g.dc0, [d.b, d.h]));
        }
    }
}

impl<C: CheckpointStrategy> FusedRecurrentBackend for Autodiff<Flex, C> {
    fn fused_gru_sequence(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [gx.node(), wh.node(), bh.node(), h0.node()];
        let (gx, wh, bh, h0, reset) = (
            gx.primitive(),
            wh.primitive(),
            bh.primitive(),
            h0.primitive(),
            reset.primitive(),
        );
        match GruBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let mut tape = GruTape::default();
                let (d, hs) = gru_forward(gx, wh, bh, h0, reset, Some(&mut tape));
                let state = GruState {
                    d,
                    wh: f32s(wh).into_owned(),
                    reset: f32s(reset).into_owned(),
                    tape,
                };
                prep.finish(Arc::new(state), hs)
            }
            OpsKind::UnTracked(prep) => prep.finish(gru_forward(gx, wh, bh, h0, reset, None).1),
        }
    }

    fn fused_lstm_sequence(
        gx: FloatTensor<Self>,
        wh: FloatTensor<Self>,
        bh: FloatTensor<Self>,
        h0: FloatTensor<Self>,
        c0: FloatTensor<Self>,
        reset: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [gx.node(), wh.node(), bh.node(), h0.node(), c0.node()];
        let inputs = [
            gx.primitive(),
            wh.primitive(),
            bh.primitive(),
            h0.primitive(),
            c0.primitive(),
            reset.primitive(),
        ];
        match LstmBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let mut tape = LstmTape::default();
                let (d, out) = lstm_forward(inputs, Some(&mut tape));
                let state = LstmState {
                    d,
                    wh: f32s(inputs[1]).into_owned(),
                    reset: f32s(inputs[5]).into_owned(),
                    tape,
                };
                prep.finish(Arc::new(state), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(lstm_forward(inputs, None).1),
        }
    }
}
