//! Sliding windows of recent rows kept in buffers with spare room, for carries that shift by one
//! row per step (attention caches, segment memory, their start flags).
//!
//! A carry `[B, n·w]` holds, per batch row, the last `n` rows of `w` values. Shifting it copies
//! `n − 1` rows per step; for a GTrXL rollout that was about a fifth of each acting step. Here
//! the carry is a view into a buffer with `n` spare rows after the window: a step writes the new
//! row into the spare room and moves the view by one row, and only every `n`-th step copies the
//! window to the front of a fresh buffer. Writing in place needs the buffer to be unshared (a
//! clone of the carry, such as the copy a rollout keeps of its start, makes the next step copy).
//! The view is an ordinary strided tensor: every other reader sees the same `[B, n·w]` values.

use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::{DType, TensorMetadata};

/// A `[B, n·w]` f32 tensor read as one window of `n` rows of `w` values per batch row.
pub(crate) struct Window {
    t: FlexTensor,
    b: usize,
    /// Values per window (`n·w`).
    len: usize,
    /// Storage index of batch row 0's window.
    offset: usize,
    /// Storage distance between batch rows.
    stride: usize,
}

impl Window {
    /// The window view of `t` (`[B, len]`; copied to a plain layout when its rows are not
    /// unit-strided).
    pub(crate) fn new(t: FlexTensor) -> Window {
        let shape = t.shape();
        assert!(
            shape.num_dims() == 2 && t.dtype() == DType::F32,
            "window: carry must be a [B, n] f32 tensor"
        );
        let (b, len) = (shape[0], shape[1]);
        let layout = t.layout();
        let strides = layout.strides();
        let strided_rows = strides[1] == 1 && (b <= 1 || strides[0] >= len as isize);
        let t = if strided_rows {
            t
        } else {
            FlexTensor::from_data(t.into_data())
        };
        let (offset, stride) = (t.layout().start_offset(), t.layout().strides()[0] as usize);
        Window {
            b,
            len,
            offset,
            stride: if b <= 1 { len.max(stride) } else { stride },
            t,
        }
    }

    /// Batch row `bi`'s window (`n·w` values, oldest row first).
    pub(crate) fn row(&self, bi: usize) -> &[f32] {
        let at = self.offset + bi * self.stride;
        &self.t.storage::<f32>()[at..at + self.len]
    }

    /// All windows, with the storage distance between batch rows: `(values from batch row 0's
    /// window on, stride)`.
    pub(crate) fn rows(&self) -> (&[f32], usize) {
        let s = self.t.storage::<f32>();
        let end = self.offset + (self.b.max(1) - 1) * self.stride + self.len;
        (&s[self.offset..end], self.stride)
    }

    /// The windows without their oldest `w` values, with `new`'s row (`w` values per batch
    /// row) appended: in place when the buffer is unshared and has room, else in a fresh buffer
    /// with `n` spare rows.
    pub(crate) fn advance(mut self, new: &[f32], w: usize) -> FlexTensor {
        let (b, len) = (self.b, self.len);
        assert!(
            w > 0 && len.is_multiple_of(w) && new.len() == b * w,
            "window: new rows must be [B, w] with w dividing the window"
        );
        // room: batch row 0's window and one more row end inside the first `stride` values
        // (each batch row's then inside its own), and the last batch row's inside the buffer
        let end = self.offset + len + w;
        let fits = b > 0
            && end <= self.stride
            && self.t.storage::<f32>().len() >= (b - 1) * self.stride + end;
        if fits && let Some(data) = self.t.try_storage_mut::<f32>() {
            for bi in 0..b {
                let at = bi * self.stride + self.offset + len;
                data[at..at + w].copy_from_slice(&new[bi * w..(bi + 1) * w]);
            }
            let layout = Layout::new(
                [b, len].into(),
                vec![self.stride as isize, 1],
                self.offset + w,
            );
            return self.t.with_layout(layout);
        }
        // fresh buffer: the window at the front of each batch row, then `n` spare rows
        let stride = 2 * len;
        let mut data = Vec::with_capacity(b * stride);
        for bi in 0..b {
            data.extend_from_slice(&self.row(bi)[w..]);
            data.extend_from_slice(&new[bi * w..(bi + 1) * w]);
            data.resize((bi + 1) * stride, 0.0);
        }
        let t = FlexTensor::from_data(burn::tensor::TensorData::new(data, [b, stride]));
        t.narrow(1, 0, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(values: Vec<f32>, shape: [usize; 2]) -> FlexTensor {
        FlexTensor::from_data(burn::tensor::TensorData::new(values, shape))
    }

    fn values(t: &FlexTensor) -> Vec<f32> {
        t.clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("f32")
    }

    /// The same shift on plain vectors.
    fn shifted(old: &[f32], b: usize, len: usize, w: usize, new: &[f32]) -> Vec<f32> {
        (0..b)
            .flat_map(|bi| {
                let row = &old[bi * len..(bi + 1) * len];
                row[w..]
                    .iter()
                    .chain(&new[bi * w..(bi + 1) * w])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn advancing_equals_shifting_in_place_copied_and_shared() {
        let (b, n, w) = (3, 4, 2);
        let len = n * w;
        let mut want: Vec<f32> = (0..b * len).map(|i| i as f32).collect();
        let mut t = plain(want.clone(), [b, len]);
        let mut kept = Vec::new();
        // 3·n steps: fresh buffers, in-place steps until the spare room runs out, a shared step
        for step in 0..3 * n {
            let new: Vec<f32> = (0..b * w)
                .map(|i| 1000.0 * (step + 1) as f32 + i as f32)
                .collect();
            if step == n + 1 {
                // a clone (like a rollout's saved start carry) keeps its values
                kept.push((t.clone(), want.clone()));
            }
            let win = Window::new(t);
            for bi in 0..b {
                assert_eq!(win.row(bi), &want[bi * len..(bi + 1) * len], "step {step}");
            }
            t = win.advance(&new, w);
            want = shifted(&want, b, len, w, &new);
            assert_eq!(t.shape().to_vec(), vec![b, len]);
            assert_eq!(values(&t), want, "step {step}");
        }
        for (t, v) in kept {
            assert_eq!(values(&t), v, "a shared carry must not change");
        }
    }

    #[test]
    fn an_empty_batch_advances() {
        let t = Window::new(plain(Vec::new(), [0, 6])).advance(&[], 2);
        assert_eq!(t.shape().to_vec(), vec![0, 6]);
    }

    #[test]
    fn a_window_of_one_batch_row_advances() {
        let mut t = plain(vec![1.0, 2.0, 3.0], [1, 3]);
        for k in 0..7 {
            t = Window::new(t).advance(&[10.0 + k as f32], 1);
        }
        assert_eq!(values(&t), vec![14.0, 15.0, 16.0]);
    }
}
