//! The mLSTM's block on the device ([`Backend::mlstm_block_forward`] and
//! its backward): the kernels of `wgsl/mlstm.wgsl`, recorded in order over
//! a scratch buffer. Nothing is read back; only the sequence lengths (when
//! there are any) go up.
//!
//! Each kernel owns the values it writes (no atomics, no workgroup
//! memory), one thread per (sequence, head) pair, per step of one, per
//! pair of steps, per step and unit, or per value of a state row. The
//! forward (7 dispatches): the window copies of `q, k/√d, v` and `C0ᵀq`;
//! the cumulative log forget gates `F`; the stabilizers `m`, their argmax
//! and `g`; the decayed scores `E = D ∘ (Q Kᵀ)`; the normalizers `z`,
//! `den` and the final state's decays `D_T·`; `h`; then the final state
//! beside the padded steps. The backward (12, with the zeroing of `dg`)
//! runs the forward's first five again, then: `h̃`, `dg`'s õ rows, `dh̃`
//! and `dnum`, beside what padded steps carry to `h0`; `dz` and `dℓ_t0`;
//! `dS` and `dℓ` over the pairs of steps, beside the final state's log
//! weights; the log weights' row and column sums; `dv`, `dq`, `dk` beside
//! the gates (one scan per pair); and the initial state's gradient last,
//! as it overwrites `dc`, which the others read. ("Beside": one dispatch
//! over both ranges of threads, for work that reads nothing the other
//! writes.)
//!
//! Scratch: about `B·NH·T·(12 + 3T) + 7·B·T·H` values in the backward
//! (three `T × T` matrices per (sequence, head), as the CPU's per-head
//! scratch has), made per call as the reductions' partial sums are.

use super::context::{Arg, Grid, Kernel};
use super::shaders::*;
use super::{Gpu, GpuMut, GpuRef};
use crate::backend::{Backend, MlstmBlock, View, ViewMut};

/// Arrays of the scratch buffer, in `struct P`'s order (`mlstm.wgsl`):
/// the lengths; twelve window vectors `F, m, arg, g, z, den, dz, dℓ_t0,
/// drow, dcol, dℓ_T, D_T` (`B·NH·T` each); `dm0` (`B·NH`); `E`; `C0ᵀq`;
/// the backward's `dS, dℓ, h̃, dh̃, dnum`; and the window copies of `q,
/// k/√d, v` (`B·NH·T·d` each).
const ARRAYS: usize = 24;

/// Where each array starts in the scratch buffer, and its length.
struct Scratch {
    offsets: [usize; ARRAYS],
    len: usize,
}

impl Scratch {
    /// The layout for block `m`: the forward's arrays only, or the
    /// backward's too.
    fn new(m: &MlstmBlock<'_>, backward: bool) -> Scratch {
        let (nr, t, d) = (m.b * m.heads, m.t, m.d());
        let (square, rows) = (nr * t * t, nr * t * d);
        let back = |n: usize| if backward { n } else { 0 };
        let mut sizes = [nr * t; ARRAYS];
        sizes[0] = m.b;
        sizes[13] = nr;
        sizes[14] = square;
        sizes[15] = rows;
        sizes[16..18].fill(back(square));
        sizes[18..21].fill(back(rows));
        sizes[21..].fill(rows);
        let mut offsets = [0; ARRAYS];
        let mut at = 0usize;
        for (o, n) in offsets.iter_mut().zip(sizes) {
            *o = at;
            at = at.saturating_add(n);
        }
        Scratch { offsets, len: at }
    }
}

/// Whether the views have the shapes of block `m`: `(length, expected)`.
fn shaped(m: &MlstmBlock<'_>, views: &[(usize, usize)]) -> bool {
    m.heads > 0
        && m.h.is_multiple_of(m.heads)
        && m.lengths.is_none_or(|l| l.len() == m.b)
        && views.iter().all(|&(len, want)| len == want)
}

impl Gpu {
    /// The parameter block (see `struct P` in `mlstm.wgsl`) with the views'
    /// offsets `views`, the scratch buffer with the lengths uploaded, and
    /// the thread counts `[B·NH, B·NH·T, B·NH·T², B·NH·T·d]`; `None` where
    /// an index or a dispatch's thread count would not fit the kernels' u32,
    /// or the scratch buffer the adapter's largest.
    fn mlstm_setup(
        &self,
        m: &MlstmBlock<'_>,
        views: [u32; 6],
        backward: bool,
    ) -> Option<(Vec<u32>, wgpu::Buffer, [usize; 4])> {
        let scratch = Scratch::new(m, backward);
        let nr = m.b * m.heads;
        let counts = [nr, nr * m.t, nr * m.t * m.t, nr * m.t * m.d()];
        let largest = [
            scratch.len,
            counts[2] + counts[1],
            3 * counts[3] + nr,
            (m.t + 1) * m.b * m.g(),
        ];
        // A scratch buffer larger than the adapter holds: the host runs the
        // block (slowly, but as the CPU would) rather than the model failing.
        if largest.iter().any(|&n| u32::try_from(n).is_err())
            || scratch.len > self.ctx.max_buffer_len()
        {
            return None;
        }
        let buf = self.ctx.buffer(scratch.len);
        if let Some(lengths) = m.lengths {
            let host: Vec<f32> = lengths.iter().map(|&l| l.min(m.t) as f32).collect();
            self.ctx.upload_bytes(bytemuck::cast_slice(&host), &buf, 0);
        }
        let scale = 1.0 / (m.d() as f32).sqrt();
        let mut params = vec![
            m.t as u32,
            m.b as u32,
            m.h as u32,
            m.heads as u32,
            m.d() as u32,
            m.reverse as u32,
            m.lengths.is_some() as u32,
            scale.to_bits(),
        ];
        params.extend(views);
        params.extend(scratch.offsets.iter().map(|&o| o as u32));
        Some((params, buf, counts))
    }

    /// Record `kernels`, each over its number of threads.
    fn mlstm_run(&self, kernels: &[(&Kernel, usize)], params: &[u32], args: &[Arg<'_>; 7]) {
        for &(kernel, n) in kernels {
            self.run(kernel, params, args, Grid::Threads(n));
        }
    }

    /// See [`Backend::mlstm_block_forward`]. `false` (the host runs the
    /// block) where the views do not have the block's shapes or the block
    /// is too large for the kernels' indices or the adapter's buffers.
    pub(super) fn mlstm_forward(
        &self,
        m: &MlstmBlock<'_>,
        xg: GpuRef<'_>,
        c0: GpuRef<'_>,
        hs: GpuMut<'_>,
        c: GpuMut<'_>,
    ) -> bool {
        let row = m.b * m.state_row();
        let views = [
            (xg.len(), m.t * m.b * m.g()),
            (c0.len(), row),
            (hs.len(), (m.t + 1) * m.b * m.h),
            (c.len(), row),
        ];
        if !shaped(m, &views) {
            return false;
        }
        let [(xg, oxg), (c0, oc0)] = [xg.arg(), c0.arg()];
        let [(hs, ohs), (c, oc)] = [hs.arg(), c.arg()];
        let Some((params, ws, [nr, steps, pairs, units])) =
            self.mlstm_setup(m, [oxg, oc0, ohs, oc, 0, 0], false)
        else {
            return false;
        };
        let args = [xg, c0, hs, c, None, None, Some(&ws)];
        let rest = [
            (&MLSTM_OUTPUTS, units),
            (&MLSTM_FINAL_STATE_AND_PADDING, row + m.b * m.h),
        ];
        self.mlstm_run(&weights_and_scores(nr, steps, pairs, units), &params, &args);
        self.mlstm_run(&rest, &params, &args);
        true
    }

    /// See [`Backend::mlstm_block_backward`] (and [`Gpu::mlstm_forward`]
    /// for when it returns `false`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn mlstm_backward(
        &self,
        m: &MlstmBlock<'_>,
        xg: GpuRef<'_>,
        c0: GpuRef<'_>,
        dh: GpuRef<'_>,
        dc: GpuMut<'_>,
        dg: GpuMut<'_>,
        dh0: GpuMut<'_>,
    ) -> bool {
        let (row, gates) = (m.b * m.state_row(), m.t * m.b * m.g());
        let views = [
            (xg.len(), gates),
            (c0.len(), row),
            (dh.len(), m.t * m.b * m.h),
            (dc.len(), row),
            (dg.len(), gates),
            (dh0.len(), m.b * m.h),
        ];
        if !shaped(m, &views) {
            return false;
        }
        let [(xg, oxg), (c0, oc0), (dh, odh)] = [xg.arg(), c0.arg(), dh.arg()];
        let [(dc, odc), (dgv, odg), (dh0, odh0)] = [dc.arg(), dg.arg(), dh0.arg()];
        let Some((params, ws, [nr, steps, pairs, units])) =
            self.mlstm_setup(m, [oxg, oc0, odh, odc, odg, odh0], true)
        else {
            return false;
        };
        // Padded steps' rows stay zero.
        Backend::<f32>::fill(self, dg, 0.0);
        let args = [xg, c0, dh, dc, dgv, dh0, Some(&ws)];
        // The forward's weights and scores again (recomputed, not kept),
        // then the backward.
        self.mlstm_run(&weights_and_scores(nr, steps, pairs, units), &params, &args);
        let kernels = [
            (&MLSTM_OUTPUTS_AND_PADDING_BACKWARD, units + m.b * m.h),
            (&MLSTM_NORMALIZERS_BACKWARD, steps),
            (&MLSTM_SCORES_AND_FINAL_BACKWARD, pairs + steps),
            (&MLSTM_LOG_WEIGHT_SUMS, steps),
            (&MLSTM_INPUTS_BACKWARD, 3 * units + nr),
            (&MLSTM_STATE_BACKWARD, row),
        ];
        self.mlstm_run(&kernels, &params, &args);
        true
    }
}

/// The kernels of a window's forward up to its outputs (the inputs split
/// by head, log forget gates, stabilizers, scores and normalizers), each
/// with its thread count: the forward runs them, and the backward runs
/// them again rather than keep what they computed.
fn weights_and_scores(
    nr: usize,
    steps: usize,
    pairs: usize,
    units: usize,
) -> [(&'static Kernel, usize); 5] {
    [
        (&MLSTM_WINDOWS, units),
        (&MLSTM_LOG_FORGET, nr),
        (&MLSTM_STABILIZERS, steps),
        (&MLSTM_SCORES, pairs),
        (&MLSTM_NORMALIZERS, steps),
    ]
}
