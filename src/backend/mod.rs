//! The [`Backend`] trait: the handful of kernels every recurrent cell is
//! written against (GEMM, gathers, fused pointwise activations, reductions,
//! softmax cross-entropy). [`Cpu`] is the reference implementation.
//!
//! Buffers are row-major slices; each method states the shapes it expects.

mod cells;
mod cpu;

pub use cpu::Cpu;

use crate::tensor::{Scalar, Trans};

/// Marks a target position that contributes nothing to the loss (padding).
pub const IGNORE: u32 = u32::MAX;

/// The nonlinearity of a vanilla RNN cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `tanh`, the classic choice (PyTorch's default).
    Tanh,
    /// `max(0, x)`.
    Relu,
}

impl std::str::FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            other => Err(format!("unknown activation '{other}': use tanh or relu")),
        }
    }
}

/// Kernels a model needs from a compute device.
pub trait Backend<S: Scalar> {
    /// `c (m×n) = [c +] op(a) (m×k) · op(b) (k×n)`; see [`crate::tensor::matmul`].
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: &[S],
        ta: Trans,
        b: &[S],
        tb: Trans,
        c: &mut [S],
        accumulate: bool,
    );

    /// `dst = srcᵀ`. `src: (rows, cols)`, `dst: (cols, rows)`.
    fn transpose(&self, rows: usize, cols: usize, src: &[S], dst: &mut [S]);

    /// Embedding lookup: `out[r, :] = table[tokens[r], :]`.
    /// `table: (V, D)`, `tokens: (R)`, `out: (R, D)`.
    fn gather_rows(&self, table: &[S], tokens: &[u32], out: &mut [S]);

    /// Backward of [`Backend::gather_rows`]: `dtable[tokens[r], :] += d[r, :]`.
    fn scatter_add_rows(&self, d: &[S], tokens: &[u32], dtable: &mut [S]);

    /// LSTM step (hidden size `h_size` = H), PyTorch gate order (i, f, g, o). `gates: (B, 4H)` holds
    /// the pre-activations on entry and `σ(i), σ(f), tanh(g), σ(o)` on return;
    /// `c = f·c_prev + i·g`, `tanh_c = tanh(c)`, `h = o·tanh_c`, all `(B, H)`.
    fn lstm_step(
        &self,
        h_size: usize,
        gates: &mut [S],
        c_prev: &[S],
        c: &mut [S],
        tanh_c: &mut [S],
        h: &mut [S],
    );

    /// Backward of [`Backend::lstm_step`]. `dh: (B, H)` is `dL/dh`; `dc: (B, H)`
    /// is `dL/dc` from the next step on entry and `dL/dc_prev` on return;
    /// `dgates: (B, 4H)` receives the pre-activation gradients.
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_backward(
        &self,
        h_size: usize,
        gates: &[S],
        c_prev: &[S],
        tanh_c: &[S],
        dh: &[S],
        dc: &mut [S],
        dgates: &mut [S],
    );

    /// GRU step (hidden size `h_size` = H), PyTorch's formula. `xg: (B, 3H)` is `W_i x + b_i` and
    /// `gh: (B, 3H)` is `W_h h_prev + b_h` for (r, z, n):
    /// `r = σ(xr + hr)`, `z = σ(xz + hz)`, `n = tanh(xn + r·hn)`,
    /// `h = (1 - z)·n + z·h_prev`. Writes `gates: (B, 3H) = (r, z, n)`,
    /// `hn: (B, H)` (kept for the backward) and `h: (B, H)`.
    #[allow(clippy::too_many_arguments)]
    fn gru_step(
        &self,
        h_size: usize,
        xg: &[S],
        gh: &[S],
        h_prev: &[S],
        gates: &mut [S],
        hn: &mut [S],
        h: &mut [S],
    );

    /// Backward of [`Backend::gru_step`] from `dh: (B, H)`: writes the
    /// pre-activation gradients of the input side `dgx: (B, 3H)` and of the
    /// hidden side `dgh: (B, 3H)` (they differ in n: `dgh_n = dgx_n·r`), and
    /// the direct part of `dL/dh_prev`, `dprev = dh·z` `(B, H)`.
    #[allow(clippy::too_many_arguments)]
    fn gru_step_backward(
        &self,
        h_size: usize,
        gates: &[S],
        hn: &[S],
        h_prev: &[S],
        dh: &[S],
        dgx: &mut [S],
        dgh: &mut [S],
        dprev: &mut [S],
    );

    /// One-hot input projection as a gather: `out[r, :] = w[:, tokens[r]]`.
    /// `w: (H, V)`, `tokens: (R)`, `out: (R, H)`.
    fn gather_columns(&self, w: &[S], v: usize, tokens: &[u32], out: &mut [S]);

    /// Backward of [`Backend::gather_columns`]: `dw[:, tokens[r]] += d[r, :]`.
    /// `d: (R, H)`, `tokens: (R)`, `dw: (H, V)`.
    fn scatter_add_columns(&self, d: &[S], tokens: &[u32], dw: &mut [S], v: usize);

    /// `x[r, :] += bias` for every row. `x: (R, N)`, `bias: (N)`.
    fn add_bias(&self, x: &mut [S], bias: &[S]);

    /// `db += Σ_r d[r, :]`. `d: (R, N)`, `db: (N)`.
    fn sum_rows_into(&self, d: &[S], db: &mut [S]);

    /// `x = act(x)` in place.
    fn activate(&self, act: Activation, x: &mut [S]);

    /// `d *= act'(·)`, expressed through the activation's output `y`
    /// (`1 - y²` for tanh, `[y > 0]` for relu). `y, d: same shape`.
    fn activate_backward(&self, act: Activation, y: &[S], d: &mut [S]);

    /// Softmax cross-entropy over rows of `logits (R, V)` against `targets (R)`
    /// (rows whose target is [`IGNORE`] are skipped). Writes
    /// `dlogits = (softmax - onehot) * scale` (zero on ignored rows) and
    /// returns the summed loss and the number of counted rows.
    fn softmax_cross_entropy(
        &self,
        logits: &[S],
        v: usize,
        targets: &[u32],
        scale: S,
        dlogits: &mut [S],
    ) -> (f64, usize);
}
