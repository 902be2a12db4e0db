//! The mLSTM's block on the device ([`Backend::mlstm_block_forward`] and
//! its backward): the kernels of `wgsl/mlstm.wgsl`, run in order over a
//! scratch buffer. Nothing is read back; only the sequence lengths go up.
//!
//! The forward is five kernels over every (sequence, head): the
//! cumulative log forget gates `F` (one thread per pair), the stabilizers
//! `m`, their argmax and `g` (one per step), the decayed scores
//! `E = D ∘ (Q Kᵀ)` (one per pair of steps), the normalizers `z`, `den`
//! (one per step), then `h` (one per step and unit), the final state (one
//! per value of a state row) and the padded steps (one per unit). The
//! backward runs the first four again and then the gradients, each kernel
//! owning the values it writes (no atomics): `dg`'s õ rows with `dnum`,
//! `dz` and `dℓ_t0` (per step), `dE` (per pair of steps), the final
//! state's log weights, the log weights' row and column sums, the gates
//! (one sequential scan per (sequence, head)), `dv`, `dq`, `dk` (per step
//! and unit), and the initial state's gradient last, as it overwrites `dc`,
//! which the others read.
//!
//! Scratch: about `B·NH·T·(12 + 2T) + B·T·H` values (two `T × T` matrices
//! per head), made per call as the reductions' partial sums are.

use super::context::{Arg, Grid, Kernel};
use super::shaders::*;
use super::{Gpu, GpuMut, GpuRef};
use crate::backend::{Backend, MlstmBlock, View, ViewMut};

/// Where each array starts in the scratch buffer (see `struct P` in
/// `mlstm.wgsl`), and its length in values.
struct Scratch {
    /// `lengths, F, m, arg, g, z, den, dz, dℓ_t0, drow, dcol, dℓ_T, dm0,
    /// E, dE, dnum`.
    offsets: [usize; 16],
    len: usize,
}

impl Scratch {
    /// The layout for block `m`: the forward's arrays only, or the
    /// backward's too.
    fn new(m: &MlstmBlock<'_>, backward: bool) -> Scratch {
        let (nr, t, d) = (m.b * m.heads, m.t, m.d());
        let mut sizes = [nr * t; 16];
        sizes[0] = m.b;
        sizes[12] = nr;
        sizes[13] = nr * t * t;
        sizes[14] = if backward { nr * t * t } else { 0 };
        sizes[15] = if backward { nr * t * d } else { 0 };
        let mut offsets = [0; 16];
        let mut at = 0usize;
        for (o, n) in offsets.iter_mut().zip(sizes) {
            *o = at;
            at = at.saturating_add(n);
        }
        Scratch { offsets, len: at }
    }
}

/// Whether the views have the shapes of block `m`.
fn shaped(m: &MlstmBlock<'_>, views: &[(usize, usize)]) -> bool {
    m.heads > 0
        && m.h % m.heads == 0
        && m.lengths.is_none_or(|l| l.len() == m.b)
        && views.iter().all(|&(len, want)| len == want)
}

impl Gpu {
    /// Record kernel `kernel` of the mLSTM over `n` threads.
    fn mlstm_run(&self, kernel: &Kernel, params: &[u32], args: &[Arg<'_>; 7], n: usize) {
        self.run(kernel, params, args, Grid::Threads(n));
    }

    /// The parameter block (see `struct P` in `mlstm.wgsl`), the scratch
    /// buffer with the lengths uploaded, and the thread counts
    /// `(B·NH, B·NH·T, B·NH·T², B·NH·T·d)`; `None` where a count or an
    /// index would not fit the kernels' u32.
    fn mlstm_setup(
        &self,
        m: &MlstmBlock<'_>,
        views: [u32; 6],
        backward: bool,
    ) -> Option<(Vec<u32>, wgpu::Buffer, [usize; 4])> {
        let scratch = Scratch::new(m, backward);
        let nr = m.b * m.heads;
        let counts = [nr, nr * m.t, nr * m.t * m.t, nr * m.t * m.d()];
        let biggest = [scratch.len, counts[2], (m.t + 1) * m.b * m.g()];
        if biggest.iter().any(|&n| u32::try_from(n).is_err()) {
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

    /// See [`crate::backend::Backend::mlstm_block_forward`]. `false` (the
    /// host runs the block) where the views do not have the block's shapes
    /// or the block is too large for the kernels' indices.
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
        self.mlstm_run(&MLSTM_LOG_FORGET, &params, &args, nr);
        self.mlstm_run(&MLSTM_STABILIZERS, &params, &args, steps);
        self.mlstm_run(&MLSTM_SCORES, &params, &args, pairs);
        self.mlstm_run(&MLSTM_NORMALIZERS, &params, &args, steps);
        self.mlstm_run(&MLSTM_OUTPUTS, &params, &args, units);
        self.mlstm_run(&MLSTM_FINAL_STATE, &params, &args, row);
        self.mlstm_run(&MLSTM_PADDING, &params, &args, m.b * m.h);
        true
    }

    /// See [`crate::backend::Backend::mlstm_block_backward`] (and
    /// [`Gpu::mlstm_forward`] for when it returns `false`).
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
        let (dg_view, odg) = dg.arg();
        let [(xg, oxg), (c0, oc0), (dh, odh)] = [xg.arg(), c0.arg(), dh.arg()];
        let [(dc, odc), (dh0, odh0)] = [dc.arg(), dh0.arg()];
        let Some((params, ws, [nr, steps, pairs, units])) =
            self.mlstm_setup(m, [oxg, oc0, odh, odc, odg, odh0], true)
        else {
            return false;
        };
        // Padded steps' rows stay zero.
        Backend::<f32>::fill(self, dg, 0.0);
        let args = [xg, c0, dh, dc, dg_view, dh0, Some(&ws)];
        let forward = [
            (&MLSTM_LOG_FORGET, nr),
            (&MLSTM_STABILIZERS, steps),
            (&MLSTM_SCORES, pairs),
            (&MLSTM_NORMALIZERS, steps),
        ];
        let backward = [
            (&MLSTM_PADDING_BACKWARD, m.b * m.h),
            (&MLSTM_ROWS_BACKWARD, steps),
            (&MLSTM_SCORES_BACKWARD, pairs),
            (&MLSTM_FINAL_BACKWARD, steps),
            (&MLSTM_LOG_WEIGHT_SUMS, steps),
            (&MLSTM_GATES_BACKWARD, nr),
            (&MLSTM_VALUES_BACKWARD, units),
            (&MLSTM_QUERIES_BACKWARD, units),
            (&MLSTM_KEYS_BACKWARD, units),
            (&MLSTM_STATE_BACKWARD, row),
        ];
        for (kernel, n) in forward.into_iter().chain(backward) {
            self.mlstm_run(kernel, &params, &args, n);
        }
        true
    }
}
