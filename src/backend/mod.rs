//! The [`Backend`] trait: where a model's numbers live and the handful of
//! kernels every cell and layer is written against (GEMM, gathers,
//! pointwise row kernels, reductions, softmax cross-entropy). [`Cpu`] is the
//! reference implementation.
//!
//! A backend owns its buffers: a [`Backend::Buf`] holds scalars where the
//! backend keeps them (host memory for the CPU, device memory for a GPU).
//! Kernels read through shared views ([`Backend::Ref`]) and write through
//! exclusive ones ([`Backend::Mut`]); a view is a range of one buffer, cut
//! with [`View::sub`] and [`ViewMut::split`] the way slices are. The host
//! only sees what it asks for with [`Backend::download`]. For the CPU the
//! views *are* slices (`&[S]`, `&mut [S]`), so the reference costs nothing.
//!
//! Each method states the shapes it expects, row-major.

mod cpu;
#[cfg(feature = "gpu")]
mod gpu;
pub mod random;
mod update;
mod view;

pub use cpu::Cpu;
#[cfg(feature = "gpu")]
pub use gpu::{AdapterSummary, Counters, Gpu, GpuBuf, GpuMut, GpuRef};
pub use update::{ADAGRAD_EPS, EPS, Update};
pub use view::{View, ViewMut, slot, slot_mut, slot_pair};

use std::fmt::Debug;

use crate::tensor::{Operand, Scalar, Trans};

/// `view` copied to the host.
pub fn to_host<S: Scalar, K: Backend<S>>(k: &K, view: K::Ref<'_>) -> Vec<S> {
    let mut host = vec![S::zero(); view.len()];
    k.download(view, &mut host);
    host
}

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

/// A pointwise kernel over the rows of a batch: `N` inputs and `M` outputs,
/// each `(B, ·)`, row `r` of every buffer handled by one call of
/// [`RowKernel::row`] (the CPU's body) or, on a GPU, by [`RowKernel::WGSL`]
/// run once per unit of the row. A cell's fused step maths is one of
/// these, written in the cell's own file in both languages.
pub trait RowKernel<S, const N: usize, const M: usize>: Sync {
    /// One row: `ins[k]` and `outs[k]` are row `r` of each buffer.
    fn row(&self, ins: [&[S]; N], outs: [&mut [S]; M]);

    /// The same maths in WGSL for the GPU backend: a function
    /// `fn unit(r: u32, j: u32)` that computes unit `j < units()` of row
    /// `r`, reading value `i` of row `r` of input `k` with `ink(r, i)` and of
    /// output `k` with `outk(r, i)`, writing it with `set_outk(r, i, v)`.
    /// `sigmoid`, `tanh_` and `softplus` (overflow-safe), and the min
    /// cells' `positive` and `positive_grad` (see `wgsl/prelude.wgsl`) are
    /// at hand.
    const WGSL: &'static str;

    /// How many units a row has (threads per row on the GPU; a cell's H).
    fn units(&self) -> usize;
}

/// The shape of one mLSTM block as [`Backend::mlstm_block_forward`] and
/// [`Backend::mlstm_block_backward`] take it: plain sizes, so that the
/// backends need nothing of the cells (the maths is the module docs of
/// [`crate::cell::mlstm`]; the host reference is
/// [`crate::cell::mlstm::block_forward_on_host`]).
#[derive(Clone, Copy, Debug)]
pub struct MlstmBlock<'a> {
    /// T: steps of the block.
    pub t: usize,
    /// B: sequences.
    pub b: usize,
    /// H: units, in `heads` heads of `d = H / heads`.
    pub h: usize,
    /// NH: heads.
    pub heads: usize,
    /// Whether the pass reads the block from its last step to its first
    /// (the state before step `s` is then in slot `s + 1` of `hs`, the one
    /// after it in slot `s`; else `s` and `s + 1`).
    pub reverse: bool,
    /// Per-sequence lengths `(B)`; `None` when every sequence has T steps.
    pub lengths: Option<&'a [usize]>,
}

impl MlstmBlock<'_> {
    /// d: units per head.
    pub fn d(&self) -> usize {
        self.h.checked_div(self.heads).unwrap_or(0)
    }
    /// G = 4H + 2·NH: rows of `xg` per step and sequence.
    pub fn g(&self) -> usize {
        4 * self.h + 2 * self.heads
    }
    /// W·H = (d + 2)·H: values of one sequence's state row.
    pub fn state_row(&self) -> usize {
        (self.d() + 2) * self.h
    }
    /// Sequence `r`'s real steps: `min(lengths[r], T)`, or T.
    pub fn steps(&self, r: usize) -> usize {
        self.lengths.map_or(self.t, |l| l[r].min(self.t))
    }
}

/// What [`Backend::holding_as_written`] hands its `f`: `ready(block,
/// first)` says that rows `first..` of the operand, `block`, are final.
pub type Ready<'r, S, K> = dyn for<'a> FnMut(<K as Backend<S>>::Ref<'a>, usize) + 'r;

/// Where a model's buffers live and the kernels that work on them.
///
/// `Buf` is owned storage; `Ref` and `Mut` are views into one, as `&[S]` and
/// `&mut [S]` are for the CPU. Kernels never allocate: every output is a
/// view the caller sized.
pub trait Backend<S: Scalar>: Clone + Debug + Send + Sync + 'static {
    /// A buffer of scalars, where this backend keeps them.
    type Buf: Clone + Debug + Default + Send + Sync;
    /// A shared view of (part of) a buffer.
    type Ref<'a>: View;
    /// An exclusive view of (part of) a buffer.
    type Mut<'a>: ViewMut<Ref = Self::Ref<'a>>;

    // ---- buffers ----

    /// Whether kernels read host memory in place (the CPU): host inputs are
    /// then never staged, and [`Backend::host_view`] copies nothing.
    const READS_HOST: bool = false;

    /// An error if the backend could not do what it was asked since it
    /// was made (a GPU asked for a buffer larger than it can hold: kernels
    /// and transfers are skipped from then on, so results are meaningless
    /// until this is reported). Trainers call it at every step, the other
    /// users of a model when they are done. The CPU never fails.
    fn check(&self) -> crate::error::Result<()> {
        Ok(())
    }

    /// Resize `buf` to `len` scalars: kept values stay, new ones are zero.
    fn resize(&self, buf: &mut Self::Buf, len: usize);
    /// Number of scalars in `buf`.
    fn buf_len(buf: &Self::Buf) -> usize;
    /// A buffer holding a copy of `host`.
    fn upload(&self, host: &[S]) -> Self::Buf;
    /// Copy `src` to the host: `dst.len() == src.len()`.
    fn download(&self, src: Self::Ref<'_>, dst: &mut [S]);
    /// `host` where this backend reads it: in place where it can (the CPU),
    /// else uploaded into `staging` (resized to fit).
    fn host_view<'a>(&self, host: &'a [S], staging: &'a mut Self::Buf) -> Self::Ref<'a>;
    /// Fill `dst` from the host, one value per call of `f`, in order
    /// (random masks drawn on the host, so that every backend draws the same).
    fn write_from_host(&self, dst: Self::Mut<'_>, f: impl FnMut() -> S);
    /// The values of `m` as a host slice, for a backend that keeps them in
    /// host memory ([`Backend::READS_HOST`]); `None` elsewhere. Host-side
    /// work with no kernel of its own (the CPU's threads summing their
    /// shards' gradients) goes through it.
    fn host_mut<'a>(m: Self::Mut<'a>) -> Option<&'a mut [S]> {
        let _ = m;
        None
    }
    /// The values of `r` as a host slice, as [`Backend::host_mut`].
    fn host_ref<'a>(r: Self::Ref<'a>) -> Option<&'a [S]> {
        let _ = r;
        None
    }
    /// The whole of `buf`, shared.
    fn view(buf: &Self::Buf) -> Self::Ref<'_>;
    /// The whole of `buf`, exclusive.
    fn view_mut(buf: &mut Self::Buf) -> Self::Mut<'_>;
    /// The same shared view with a shorter lifetime (views are invariant
    /// in their lifetime, as projections of a generic backend are).
    fn shorten<'a: 'b, 'b>(r: Self::Ref<'a>) -> Self::Ref<'b>;
    /// A shorter-lived exclusive view of the same range, so that `m` can be
    /// passed to one kernel and used again afterwards.
    fn reborrow<'b>(m: &'b mut Self::Mut<'_>) -> Self::Mut<'b>;

    // ---- copies and elementwise ----

    /// `dst = src` (same length).
    fn copy(&self, src: Self::Ref<'_>, dst: Self::Mut<'_>);
    /// `dst = value` everywhere.
    fn fill(&self, dst: Self::Mut<'_>, value: S);
    /// `dst += src` (same length).
    fn add(&self, src: Self::Ref<'_>, dst: Self::Mut<'_>);
    /// `dst *= src` (same length).
    fn mul(&self, src: Self::Ref<'_>, dst: Self::Mut<'_>);
    /// `dst = a ⊙ b` (same lengths).
    fn mul_into(&self, a: Self::Ref<'_>, b: Self::Ref<'_>, dst: Self::Mut<'_>);
    /// Copy (or, with `accumulate`, add) a block of `rows × width` between
    /// row-major buffers of different row lengths:
    /// `dst[r·dst_stride + j] (+)= src[r·src_stride + j]` for `j < width`
    /// (the views start at the block's first value). Joins and splits the
    /// directions of a bidirectional layer.
    fn copy_block(
        &self,
        rows: usize,
        width: usize,
        src: (Self::Ref<'_>, usize),
        dst: (Self::Mut<'_>, usize),
        accumulate: bool,
    );
    /// Rows of padding at step `s`: for every row `r` with `lengths[r] <= s`,
    /// `dst[r, :] = src[r, :]` (`Some`) or `0` (`None`). `src, dst: (B, N)`,
    /// `lengths: (B)`.
    fn set_padded_rows(
        &self,
        lengths: &[usize],
        s: usize,
        src: Option<Self::Ref<'_>>,
        dst: Self::Mut<'_>,
    );
    /// `dst[r, :] += src[r, :]` for the rows of padding at step `s` (see
    /// [`Backend::set_padded_rows`]).
    fn add_padded_rows(&self, lengths: &[usize], s: usize, src: Self::Ref<'_>, dst: Self::Mut<'_>);
    /// An inverted dropout mask: value `i` is 0 where
    /// [`random::bits24`]`(key, i)` is below [`random::drop_threshold`]`(p)`
    /// (probability `p`), else `1/(1-p)`. Drawn where the mask lives; every
    /// backend draws the same.
    fn dropout_mask(&self, mask: Self::Mut<'_>, p: f64, key: u64);
    /// Draw token `step` of a batch-1 sample where its logits `(V)` are:
    /// [`random::pick`] with [`random::bits24`]`(key, step)`. Writes its id
    /// (as a value) to `token[0]` and its one-hot row to `onehot: (V)`, the
    /// next step's input. The default reads the logits on the host.
    fn sample_token(
        &self,
        logits: Self::Ref<'_>,
        draw: random::Draw,
        (key, step): (u64, u32),
        token: Self::Mut<'_>,
        onehot: Self::Mut<'_>,
    ) {
        let mut host = vec![S::zero(); logits.len()];
        self.download(logits, &mut host);
        let host: Vec<f32> = host.iter().map(|x| x.f64() as f32).collect();
        let i = random::pick(&host, &draw, random::bits24(key, step));
        self.fill(token, S::of(i as f64));
        let mut j = 0;
        self.write_from_host(onehot, || {
            j += 1;
            if j - 1 == i { S::one() } else { S::zero() }
        });
    }
    /// Run a pointwise kernel over the `rows` rows of its buffers (each
    /// buffer's row length is its length over `rows`).
    fn rows<const N: usize, const M: usize>(
        &self,
        kernel: &impl RowKernel<S, N, M>,
        rows: usize,
        ins: [Self::Ref<'_>; N],
        outs: [Self::Mut<'_>; M],
    );

    // ---- products and reductions ----

    /// `c (m×n) = [c +] op(a) (m×k) · op(b) (k×n)`; see [`crate::tensor::matmul`].
    #[allow(clippy::too_many_arguments)]
    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: Self::Ref<'_>,
        ta: Trans,
        b: Self::Ref<'_>,
        tb: Trans,
        c: Self::Mut<'_>,
        accumulate: bool,
    );

    /// `c = d + op(a) · op(b)` with `d` shaped like `c` (a step's input
    /// part plus its recurrent product, one kernel on a device). The
    /// default copies `d`, then accumulates.
    #[allow(clippy::too_many_arguments)]
    fn matmul_onto(
        &self,
        (m, n, k): (usize, usize, usize),
        a: Self::Ref<'_>,
        ta: Trans,
        b: Self::Ref<'_>,
        tb: Trans,
        d: Self::Ref<'_>,
        mut c: Self::Mut<'_>,
    ) {
        self.copy(d, Self::reborrow(&mut c));
        self.matmul(m, n, k, a, ta, b, tb, c, true);
    }

    /// Run `f`, in whose products `x` stays the same where it is `side`
    /// of a product, `op(x)` of shape `dims` (`(m×k)` for A, `(k×n)` for
    /// B), stored as `t` says: a backend may prepare it once for all of
    /// them (the CPU packs it as bf16 pairs under `--precision bf16`). The
    /// default just runs `f`.
    fn holding<R>(
        &self,
        x: Self::Ref<'_>,
        side: Operand,
        dims: (usize, usize),
        t: Trans,
        f: impl FnOnce() -> R,
    ) -> R {
        let _ = (x, side, dims, t);
        f()
    }

    /// Run `f`, which writes an operand `x` a block of its rows at a time
    /// and then multiplies by it, `side` of products where `op(x)` is
    /// `dims` (stored as `t` says): `f` calls `ready(block, first)` once
    /// rows `first..` of `x` are final (`block`, a view of them; each row
    /// once, unchanged afterwards). A backend may prepare `x` block by
    /// block while each is fresh, for those products: the CPU packs a
    /// window's gate gradients as bf16 pairs, a step at a time, for the
    /// weight gradients under `--precision bf16`. The default's `ready`
    /// does nothing.
    fn holding_as_written<R>(
        &self,
        side: Operand,
        dims: (usize, usize),
        t: Trans,
        f: impl FnOnce(&mut Ready<'_, S, Self>) -> R,
    ) -> R {
        let _ = (side, dims, t);
        f(&mut |_, _| {})
    }

    /// Prepare the recurrent weight `w_hh: (G, H)` for `rows × H` products
    /// `h_prev · W_hhᵀ` repeated at every step: returns the weight to pass
    /// to [`Backend::matmul`] as `b` and how to use it. The CPU keeps `W_hh`
    /// for a few rows and writes `W_hhᵀ (H, G)` into `scratch` for more
    /// (GEMM kernels would otherwise repack it at every step).
    fn recurrent_weight<'a>(
        &self,
        rows: usize,
        g: usize,
        h: usize,
        w_hh: Self::Ref<'a>,
        scratch: &'a mut Self::Buf,
    ) -> (Self::Ref<'a>, Trans);

    /// Embedding lookup: `out[r, :] = table[tokens[r], :]`.
    /// `table: (V, D)`, `tokens: (R)`, `out: (R, D)`.
    fn gather_rows(&self, table: Self::Ref<'_>, tokens: &[u32], out: Self::Mut<'_>);

    /// Backward of [`Backend::gather_rows`]: `dtable[tokens[r], :] += d[r, :]`.
    fn scatter_add_rows(&self, d: Self::Ref<'_>, tokens: &[u32], dtable: Self::Mut<'_>);

    /// One-hot input projection as a gather: `out[r, :] = w[:, tokens[r]]`.
    /// `w: (H, V)`, `tokens: (R)`, `out: (R, H)`.
    fn gather_columns(&self, w: Self::Ref<'_>, v: usize, tokens: &[u32], out: Self::Mut<'_>);

    /// Backward of [`Backend::gather_columns`]: `dw[:, tokens[r]] += d[r, :]`.
    /// `d: (R, H)`, `tokens: (R)`, `dw: (H, V)`.
    fn scatter_add_columns(&self, d: Self::Ref<'_>, tokens: &[u32], dw: Self::Mut<'_>, v: usize);

    /// `x[r, :] += bias` for every row. `x: (R, N)`, `bias: (N)`.
    fn add_bias(&self, x: Self::Mut<'_>, bias: Self::Ref<'_>);

    /// `x[r, :] = bias` for every row. `x: (R, N)`, `bias: (N)`.
    fn set_rows(&self, x: Self::Mut<'_>, bias: Self::Ref<'_>);

    /// `db += Σ_r d[r, :]`. `d: (R, N)`, `db: (N)`.
    fn sum_rows_into(&self, d: Self::Ref<'_>, db: Self::Mut<'_>);

    /// A projection's bias terms: `x[r, :] += first`, then `+= second`
    /// where there is one (a cell's `b_ih`, and `b_hh` where the cell
    /// folds it in), each element summed in that order. `x: (R, N)`,
    /// `first` and `second: (N)`. The default is one
    /// [`Backend::add_bias`] for each; the CPU adds both in one pass, on
    /// both cores.
    fn add_biases(
        &self,
        mut x: Self::Mut<'_>,
        first: Self::Ref<'_>,
        second: Option<Self::Ref<'_>>,
    ) {
        self.add_bias(Self::reborrow(&mut x), first);
        if let Some(second) = second {
            self.add_bias(x, second);
        }
    }

    /// [`Backend::gather_columns`], then [`Backend::add_biases`] of
    /// `first` and `second` onto what it gathered: a one-hot input's
    /// projection with its biases. The default runs the two; the CPU
    /// adds the biases to each column of `w` once and gathers the sums
    /// (the same values: each is `(w + first) + second`).
    fn gather_columns_biased(
        &self,
        w: Self::Ref<'_>,
        v: usize,
        tokens: &[u32],
        (first, second): (Self::Ref<'_>, Option<Self::Ref<'_>>),
        mut out: Self::Mut<'_>,
    ) {
        self.gather_columns(w, v, tokens, Self::reborrow(&mut out));
        self.add_biases(out, first, second);
    }

    /// [`Backend::sum_rows_into`] of one `d` into two: `first += Σ_r d[r, :]`
    /// and `second += Σ_r d[r, :]` (a cell's `b_ih` and `b_hh`, where both
    /// take the gates' gradients). The default sums twice; the CPU reads
    /// `d` once, on both cores.
    fn sum_rows_into_both(&self, d: Self::Ref<'_>, first: Self::Mut<'_>, second: Self::Mut<'_>) {
        self.sum_rows_into(d, first);
        self.sum_rows_into(d, second);
    }

    /// `x = act(x)` in place.
    fn activate(&self, act: Activation, x: Self::Mut<'_>);

    /// `d *= act'(·)`, expressed through the activation's output `y`
    /// (`1 - y²` for tanh, `[y > 0]` for relu). `y, d: same shape`.
    fn activate_backward(&self, act: Activation, y: Self::Ref<'_>, d: Self::Mut<'_>);

    /// Mean squared error over all elements of `y` against `target` (same
    /// shape): returns the loss and writes `dy = 2 (y - t) / N`.
    fn mse(&self, y: Self::Ref<'_>, target: Self::Ref<'_>, dy: Self::Mut<'_>) -> f64;

    /// Mean absolute error: returns the loss and writes
    /// `dy = sign(y - t) / N` (0 where they are equal).
    fn mae(&self, y: Self::Ref<'_>, target: Self::Ref<'_>, dy: Self::Mut<'_>) -> f64;

    // ---- attention ----

    /// Softmax over the first `n` values of each row of `x: (R, cols)`, in
    /// place; the rest (padding) get weight 0.
    fn softmax_rows(&self, x: Self::Mut<'_>, cols: usize, n: usize);

    /// Backward of [`Backend::softmax_rows`] from its output `y: (R, cols)`:
    /// `d = y ⊙ (d - Σ_j y_j d_j)` per row, in place.
    fn softmax_rows_backward(&self, y: Self::Ref<'_>, d: Self::Mut<'_>, cols: usize);

    /// Bahdanau's additive scores: `z[t, s, :] = tanh(q[t, :] + u[s, :])`
    /// and `e[t, s] = z[t, s, :]·v`. `q: (T, A)`, `u: (S, A)`, `v: (A)`,
    /// `z: (T, S, A)`, `e: (T, S)`.
    fn additive_scores(
        &self,
        q: Self::Ref<'_>,
        u: Self::Ref<'_>,
        v: Self::Ref<'_>,
        z: Self::Mut<'_>,
        e: Self::Mut<'_>,
    );

    /// Backward of [`Backend::additive_scores`] from `de: (T, S)` (pairs
    /// whose `de` is exactly 0, padding, are skipped): `dv += Σ de·z`, and
    /// `dq: (T, A)`, `du: (S, A)` are overwritten with
    /// `Σ de·v⊙(1 - z²)` over the other index.
    #[allow(clippy::too_many_arguments)]
    fn additive_scores_backward(
        &self,
        z: Self::Ref<'_>,
        v: Self::Ref<'_>,
        de: Self::Ref<'_>,
        dv: Self::Mut<'_>,
        dq: Self::Mut<'_>,
        du: Self::Mut<'_>,
    );

    // ---- the mLSTM's window ----

    /// The mLSTM's block forward on the backend: for each sequence `r`,
    /// its real steps (`m.steps(r)`) in the pass's reading order from its
    /// state row `c0[r]`, `h = σ(õ) ⊙ h̃` written into `hs` at the slot
    /// after each real step, padded steps carrying `h` from the slot
    /// before them, the final state row into `c[r]` (`c0[r]` again for a
    /// sequence of no steps). `xg: (T, B, G)`, `c0, c: (B, W·H)`,
    /// `hs: (T+1, B, H)` with the initial state in place (see
    /// [`crate::cell::mlstm`] for the rows of `xg` and of a state row).
    ///
    /// Returns whether it did: the default has no kernel and returns
    /// `false`, and the cell then runs the window on the host (in place
    /// for a backend whose memory is the host's, else through copies).
    fn mlstm_block_forward(
        &self,
        m: &MlstmBlock<'_>,
        xg: Self::Ref<'_>,
        c0: Self::Ref<'_>,
        hs: Self::Mut<'_>,
        c: Self::Mut<'_>,
    ) -> bool {
        let _ = (m, xg, c0, hs, c);
        false
    }

    /// The backward of [`Backend::mlstm_block_forward`] (which it runs
    /// again): from `dh: (T, B, H)` (`dL/dh` after each step; a padded
    /// step's goes on to the step before it in reading order) and
    /// `dc: (B, W·H)` (`dL/d` of the final state row, overwritten with that
    /// of the initial one for every sequence with a real step), writes
    /// `dg: (T, B, G)` (zero at padded steps) and adds to `dh0: (B, H)`
    /// what reaches the initial `h`. Returns whether it did (the default:
    /// `false`, see [`Backend::mlstm_block_forward`]).
    #[allow(clippy::too_many_arguments)]
    fn mlstm_block_backward(
        &self,
        m: &MlstmBlock<'_>,
        xg: Self::Ref<'_>,
        c0: Self::Ref<'_>,
        dh: Self::Ref<'_>,
        dc: Self::Mut<'_>,
        dg: Self::Mut<'_>,
        dh0: Self::Mut<'_>,
    ) -> bool {
        let _ = (m, xg, c0, dh, dc, dg, dh0);
        false
    }

    // ---- optimizers and clipping ----

    /// One optimizer step: `params` from `grads` with moments `m0`, `m1`
    /// (empty when the rule keeps fewer), all the same length.
    fn update(
        &self,
        rule: Update<S>,
        params: Self::Mut<'_>,
        grads: Self::Ref<'_>,
        m0: Self::Mut<'_>,
        m1: Self::Mut<'_>,
    );

    /// `Σ x²`, in `S` widened at the end (NaN or infinite if any value is).
    fn sum_squares(&self, x: Self::Ref<'_>) -> f64;

    /// `x *= s`.
    fn scale(&self, x: Self::Mut<'_>, s: S);

    /// Clamp every value to `[lo, hi]`; returns whether all were finite
    /// before (a NaN would otherwise be clamped silently).
    fn clamp(&self, x: Self::Mut<'_>, lo: S, hi: S) -> bool;

    /// Whether every value is finite.
    fn all_finite(&self, x: Self::Ref<'_>) -> bool;

    // ---- the same, leaving their result on the backend ----
    //
    // A training iteration's scalars (the loss, the clip's norm and its
    // verdict on the gradients) stay where they are computed, and the
    // update reads the verdict there: the host reads them all back once, at
    // the end. The defaults go through the methods above (a host backend
    // reads in place, so they cost nothing there); a device overrides them
    // with kernels.

    /// [`Backend::softmax_cross_entropy`] with the summed loss left in
    /// `loss[0]`; returns the number of counted rows.
    fn softmax_cross_entropy_to(
        &self,
        logits: Self::Ref<'_>,
        v: usize,
        targets: &[u32],
        scale: S,
        dlogits: Self::Mut<'_>,
        loss: Self::Mut<'_>,
    ) -> usize {
        let (sum, count) = self.softmax_cross_entropy(logits, v, targets, scale, dlogits);
        self.fill(loss, S::of(sum));
        count
    }

    /// [`Backend::mse`] with the summed squared error (not the mean) left
    /// in `out[0]`.
    fn mse_to(
        &self,
        y: Self::Ref<'_>,
        target: Self::Ref<'_>,
        dy: Self::Mut<'_>,
        out: Self::Mut<'_>,
    ) {
        let n = y.len().max(1) as f64;
        let mean = self.mse(y, target, dy);
        self.fill(out, S::of(mean * n));
    }

    /// [`Backend::mae`] with the summed absolute error left in `out[0]`.
    fn mae_to(
        &self,
        y: Self::Ref<'_>,
        target: Self::Ref<'_>,
        dy: Self::Mut<'_>,
        out: Self::Mut<'_>,
    ) {
        let n = y.len().max(1) as f64;
        let mean = self.mae(y, target, dy);
        self.fill(out, S::of(mean * n));
    }

    /// `out[0] = Σ x²` (see [`Backend::sum_squares`]).
    fn sum_squares_to(&self, x: Self::Ref<'_>, out: Self::Mut<'_>) {
        let v = self.sum_squares(x);
        self.fill(out, S::of(v));
    }

    /// `out[0] = 0` if every value of `x` is finite, else NaN: a verdict
    /// that is finite exactly when the values are.
    fn finite_flag_to(&self, x: Self::Ref<'_>, out: Self::Mut<'_>) {
        let flag = if self.all_finite(x) {
            S::zero()
        } else {
            S::nan()
        };
        self.fill(out, flag);
    }

    /// [`Backend::clamp`] with its verdict left in `out[0]` (see
    /// [`Backend::finite_flag_to`]).
    fn clamp_to(&self, x: Self::Mut<'_>, lo: S, hi: S, out: Self::Mut<'_>) {
        let flag = if self.clamp(x, lo, hi) {
            S::zero()
        } else {
            S::nan()
        };
        self.fill(out, flag);
    }

    /// Global-norm clipping from a norm left on the backend: with
    /// `n = √norm_sq[0]`, `x *= c / (n + 1e-6)` where `n > c`.
    fn scale_to_norm(&self, x: Self::Mut<'_>, norm_sq: Self::Ref<'_>, c: f64) {
        let mut n2 = [S::zero()];
        self.download(norm_sq, &mut n2);
        let n = n2[0].f64().sqrt();
        if n > c {
            self.scale(x, S::of(c / (n + 1e-6)));
        }
    }

    /// [`Backend::update`] only where `guard[0]` is finite (a verdict of
    /// the gradients): non-finite gradients leave parameters and moments
    /// as they were.
    fn update_guarded(
        &self,
        rule: Update<S>,
        params: Self::Mut<'_>,
        grads: Self::Ref<'_>,
        m: (Self::Mut<'_>, Self::Mut<'_>),
        guard: Self::Ref<'_>,
    ) {
        let mut g = [S::zero()];
        self.download(guard, &mut g);
        if g[0].is_finite() {
            self.update(rule, params, grads, m.0, m.1);
        }
    }

    /// Elementwise clipping and the update in one: `grads` clamped to
    /// `[-c, c]`, the verdict (see [`Backend::finite_flag_to`]) left in
    /// `verdict[0]`, and [`Backend::update`] from the clamped gradients
    /// where the verdict is finite. The default is [`Backend::clamp_to`]
    /// then [`Backend::update_guarded`]; the CPU reads the gradients for
    /// the verdict, then clamps them in the update's own sweep, without
    /// writing them back: afterwards `grads` holds either the clamped or
    /// the given values, and is spent.
    #[allow(clippy::too_many_arguments)]
    fn clamp_update_guarded(
        &self,
        rule: Update<S>,
        params: Self::Mut<'_>,
        mut grads: Self::Mut<'_>,
        m: (Self::Mut<'_>, Self::Mut<'_>),
        c: S,
        mut verdict: Self::Mut<'_>,
    ) {
        self.clamp_to(
            Self::reborrow(&mut grads),
            -c,
            c,
            Self::reborrow(&mut verdict),
        );
        self.update_guarded(rule, params, grads.into_ref(), m, verdict.into_ref());
    }

    /// Softmax cross-entropy over rows of `logits (R, V)` against `targets (R)`
    /// (rows whose target is [`IGNORE`] are skipped). Writes
    /// `dlogits = (softmax - onehot) * scale` (zero on ignored rows) and
    /// returns the summed loss and the number of counted rows.
    fn softmax_cross_entropy(
        &self,
        logits: Self::Ref<'_>,
        v: usize,
        targets: &[u32],
        scale: S,
        dlogits: Self::Mut<'_>,
    ) -> (f64, usize);
}
