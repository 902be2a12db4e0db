//! The GPU backend: [`Gpu`] runs every kernel of the [`Backend`] trait as a
//! WGSL compute shader through wgpu (Vulkan, Metal, DX12), on f32 values in
//! device memory.
//!
//! Nothing waits on the device unless the host asks for a value: kernels
//! are recorded into one command encoder (see [`context`]) and submitted
//! when a download, a loss or a norm is read back. [`Gpu::take_counters`]
//! says how many dispatches and round trips a piece of work cost.
//!
//! The kernels mirror the CPU's loops, sums in the same order where a
//! thread owns an output (row sums, scatter-adds grouped by token on the
//! host, attention's backward), so results differ from the CPU's only by
//! f32 rounding in the transcendental functions, GEMM's summation order and
//! the tree reductions.

mod buffer;
mod context;
mod mlstm;
mod rows;
mod shaders;

use std::sync::Arc;

pub use buffer::{GpuBuf, GpuMut, GpuRef};
pub use context::{AdapterSummary, Counters};

use self::context::{Arg, Context, Grid, Kernel};
use self::shaders::*;
use super::{
    ADAGRAD_EPS, Activation, Backend, EPS, IGNORE, MlstmBlock, RowKernel, Update, ViewMut,
};
use crate::error::Result;
use crate::tensor::Trans;

/// The GPU backend: one opened adapter, shared by its clones.
#[derive(Clone, Debug)]
pub struct Gpu {
    ctx: Arc<Context>,
}

impl Gpu {
    /// Open the adapter `--device gpu` takes (see [`Gpu::preferred_adapter`]),
    /// or adapter `index` of [`Gpu::adapters`]. A clear error where there is
    /// none.
    pub fn open(index: Option<usize>) -> Result<Gpu> {
        Ok(Gpu {
            ctx: Arc::new(Context::open(index)?),
        })
    }

    /// Every adapter wgpu sees, in the order `--gpu N` numbers them.
    pub fn adapters() -> Vec<AdapterSummary> {
        let all = context::adapters();
        all.iter()
            .enumerate()
            .map(|(i, a)| context::summary(i, a))
            .collect()
    }

    /// The adapter [`Gpu::open`] takes without an index: a discrete GPU
    /// first, then an integrated one, then anything else.
    pub fn preferred_adapter() -> Option<usize> {
        context::preferred(&context::adapters())
    }

    /// The adapter this backend runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        self.ctx.adapter()
    }

    /// The most values one buffer can hold on this adapter: a model whose
    /// parameters or one step's activations need more cannot run on it
    /// (the failure is reported by [`Backend::check`]).
    pub fn max_buffer_len(&self) -> usize {
        self.ctx.max_buffer_len()
    }

    /// Dispatches, round trips, uploads and submissions since the last call.
    pub fn take_counters(&self) -> Counters {
        self.ctx.take_counters()
    }

    fn run(&self, kernel: &Kernel, params: &[u32], args: &[Arg<'_>], grid: Grid) {
        self.ctx.dispatch(kernel, params, args, grid);
    }

    /// An elementwise kernel over `n` threads writing `c`.
    fn elementwise(
        &self,
        kernel: &Kernel,
        c: GpuMut<'_>,
        a: Option<GpuRef<'_>>,
        b: Option<GpuRef<'_>>,
        e: Ew,
    ) {
        let (a, oa) = a.map_or((None, 0), |a| a.arg());
        let (b, ob) = b.map_or((None, 0), |b| b.arg());
        let (c, oc) = c.arg();
        let params = [
            e.n as u32,
            oa,
            ob,
            oc,
            e.f.to_bits(),
            e.g.to_bits(),
            e.width,
            e.sa,
            e.sc,
        ];
        self.run(kernel, &params, &[a, b, c], Grid::Threads(e.n));
    }

    /// A host index kernel: `idx` uploaded, `n` threads.
    fn indexed(
        &self,
        kernel: &Kernel,
        a: GpuRef<'_>,
        c: GpuMut<'_>,
        idx: &[u32],
        words: [u32; 3],
        n: usize,
    ) {
        if n == 0 {
            return;
        }
        let idx = self.ctx.upload_u32(idx);
        let ((a, oa), (c, oc)) = (a.arg(), c.arg());
        let [width, v, u] = words;
        self.run(
            kernel,
            &[n as u32, oa, oc, width, v, u],
            &[a, c, Some(&idx)],
            Grid::Threads(n),
        );
    }

    /// Record a reduction of `n` values to one (see `reduce.wgsl`); returns
    /// the buffer whose value `[groups]` is the result once read.
    fn reduce(
        &self,
        kernel: &Kernel,
        n: usize,
        x: GpuRef<'_>,
        y: Option<GpuRef<'_>>,
        d: Option<GpuMut<'_>>,
    ) -> (wgpu::Buffer, u32) {
        let groups = n.div_ceil(context::WORKGROUP as usize).clamp(1, 256) as u32;
        let part = self.ctx.buffer(groups as usize + 1);
        let (x, ox) = x.arg();
        let (y, oy) = y.map_or((None, 0), |y| y.arg());
        let (d, od) = d.map_or((None, 0), |d| d.arg());
        let params = [n as u32, ox, oy, od, 0, groups, 0];
        self.run(
            kernel,
            &params,
            &[x, y, d, Some(&part)],
            Grid::Tiles(groups, 1),
        );
        let finish = [0, 0, 0, 0, 0, groups, groups];
        self.run(
            &FINISH,
            &finish,
            &[None, None, None, Some(&part)],
            Grid::Tiles(1, 1),
        );
        (part, groups)
    }

    /// The value at `at` of `buf`, read back.
    fn read(&self, (buf, at): (wgpu::Buffer, u32)) -> f32 {
        let bytes = self.ctx.download_bytes(&buf, at as u64 * 4, 4);
        f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }

    /// One optimizer step, skipped on the device where `guard` (a verdict)
    /// is not finite.
    fn apply_update(
        &self,
        rule: Update<f32>,
        params: GpuMut<'_>,
        grads: GpuRef<'_>,
        (m0, m1): (GpuMut<'_>, GpuMut<'_>),
        guard: Option<GpuRef<'_>>,
    ) {
        let (code, f, eps) = match rule {
            Update::Sgd { lr } => (0, [lr, 0.0, 0.0, 0.0], EPS),
            Update::Momentum { lr, mu } => (1, [lr, mu, 0.0, 0.0], EPS),
            Update::Adagrad { lr } => (2, [lr, 0.0, 0.0, 0.0], ADAGRAD_EPS),
            Update::Rmsprop { lr, a } => (3, [lr, a, 0.0, 0.0], EPS),
            Update::Adam {
                step,
                b1,
                b2,
                corr2,
            } => (4, [step, b1, b2, corr2], EPS),
        };
        let n = params.len;
        let [(p, op), (m0, o0), (m1, o1)] = [params.arg(), m0.arg(), m1.arg()];
        let (g, og) = grads.arg();
        let (guard, og_guard) = guard.map_or((None, 0), |g| g.arg());
        let words = [
            n as u32,
            op,
            og,
            o0,
            o1,
            code,
            f[0].to_bits(),
            f[1].to_bits(),
            f[2].to_bits(),
            f[3].to_bits(),
            (eps as f32).to_bits(),
            guard.is_some() as u32,
            og_guard,
        ];
        self.run(
            &UPDATE_PARAMS,
            &words,
            &[p, g, m0, m1, guard],
            Grid::Threads(n),
        );
    }

    /// Copy value `at` of `buf` into `out[0]` (recorded, not waited for).
    fn place(&self, (buf, at): (wgpu::Buffer, u32), out: GpuMut<'_>) {
        if let (Some(dst), off) = out.arg() {
            self.ctx.copy(&buf, at as u64 * 4, dst, off as u64 * 4, 4);
        }
    }

    /// Record softmax cross-entropy (see the trait); returns where its
    /// summed loss will be.
    fn cross_entropy_sum(
        &self,
        logits: GpuRef<'_>,
        v: usize,
        targets: &[u32],
        scale: f32,
        dlogits: GpuMut<'_>,
    ) -> (wgpu::Buffer, u32) {
        let rows = targets.len();
        let losses = self.ctx.buffer(rows);
        let t = self.ctx.upload_u32(targets);
        let ((x, ox), (d, od)) = (logits.arg(), dlogits.arg());
        let words = [rows as u32, v as u32, 0, ox, od, scale.to_bits()];
        self.softmax_kernel(&CROSS_ENTROPY, rows, words, [x, d, Some(&t), Some(&losses)]);
        let view = GpuRef {
            buf: Some(&losses),
            off: 0,
            len: rows,
        };
        self.reduce(&SUM, rows, view, None, None)
    }

    /// Record a count of the non-finite values of `x` and turn it into a
    /// verdict in `out[0]` (0 or NaN).
    fn flag_non_finite(&self, x: GpuRef<'_>, out: GpuMut<'_>) {
        let (part, at) = self.reduce(&NON_FINITE, x.len, x, None, None);
        let (d, od) = out.arg();
        let words = [0, 0, 0, od, 0, 0, at];
        self.run(
            &FLAG,
            &words,
            &[None, None, d, Some(&part)],
            Grid::Tiles(1, 1),
        );
    }

    /// `c (m×n) = op(a)·op(b)`, plus `c` (mode 1) or `d` (mode 2).
    fn gemm(
        &self,
        (m, n, k): (usize, usize, usize),
        (a, ta): (GpuRef<'_>, Trans),
        (b, tb): (GpuRef<'_>, Trans),
        c: GpuMut<'_>,
        (mode, d): (u32, Option<GpuRef<'_>>),
    ) {
        let ((a, oa), (b, ob), (c, oc)) = (a.arg(), b.arg(), c.arg());
        let (d, od) = d.map_or((None, 0), |d| d.arg());
        let params = [
            m as u32,
            n as u32,
            k as u32,
            oa,
            ob,
            oc,
            trans(ta),
            trans(tb),
            mode,
            od,
        ];
        let tiles = (n.div_ceil(64) as u32, m.div_ceil(64) as u32);
        self.run(
            &MATMUL,
            &params,
            &[a, b, c, d],
            Grid::Tiles(tiles.0, tiles.1),
        );
    }

    /// A one-dimensional row kernel over the rows of a softmax.
    fn softmax_kernel(&self, kernel: &Kernel, rows: usize, words: [u32; 6], args: [Arg<'_>; 4]) {
        self.run(kernel, &words, &args, Grid::Groups(rows));
    }
}

/// The arguments of an elementwise kernel beyond its buffers.
#[derive(Clone, Copy, Default)]
struct Ew {
    n: usize,
    f: f32,
    g: f32,
    width: u32,
    sa: u32,
    sc: u32,
}

impl Ew {
    fn n(n: usize) -> Ew {
        Ew { n, ..Ew::default() }
    }
}

/// Token ids grouped for a deterministic scatter-add: the distinct tokens
/// `U` in ascending order, where each one's rows start in the row list
/// (`U + 1` values), then the rows, in order within each token.
fn by_token(tokens: &[u32]) -> (Vec<u32>, usize) {
    let mut rows: Vec<u32> = (0..tokens.len() as u32).collect();
    rows.sort_by_key(|&r| tokens[r as usize]);
    let mut uniq = Vec::new();
    let mut starts = Vec::new();
    for (q, &r) in rows.iter().enumerate() {
        let t = tokens[r as usize];
        if uniq.last() != Some(&t) {
            uniq.push(t);
            starts.push(q as u32);
        }
    }
    starts.push(rows.len() as u32);
    let u = uniq.len();
    uniq.extend(starts);
    uniq.extend(rows);
    (uniq, u)
}

fn trans(t: Trans) -> u32 {
    match t {
        Trans::No => 0,
        Trans::Yes => 1,
    }
}

impl Backend<f32> for Gpu {
    type Buf = GpuBuf;
    type Ref<'a> = GpuRef<'a>;
    type Mut<'a> = GpuMut<'a>;

    fn check(&self) -> Result<()> {
        self.ctx.check()
    }

    fn resize(&self, buf: &mut GpuBuf, len: usize) {
        if buf.inner.is_some() && buf.len == len {
            return;
        }
        let fresh = self.ctx.buffer(len);
        if let Some(old) = buf.raw() {
            self.ctx
                .copy(old, 0, &fresh, 0, buf.len.min(len) as u64 * 4);
        }
        *buf = GpuBuf {
            len,
            inner: Some((self.ctx.clone(), fresh)),
        };
    }

    fn buf_len(buf: &GpuBuf) -> usize {
        buf.len
    }

    fn upload(&self, host: &[f32]) -> GpuBuf {
        let buf = self.ctx.buffer(host.len());
        self.ctx.upload_bytes(bytemuck::cast_slice(host), &buf, 0);
        GpuBuf {
            len: host.len(),
            inner: Some((self.ctx.clone(), buf)),
        }
    }

    fn download(&self, src: GpuRef<'_>, dst: &mut [f32]) {
        assert_eq!(src.len, dst.len(), "download: lengths");
        let Some(buf) = src.buf.filter(|_| src.len > 0) else {
            return;
        };
        let bytes = self
            .ctx
            .download_bytes(buf, src.off as u64 * 4, src.len as u64 * 4);
        for (d, b) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
            *d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
    }

    fn host_view<'a>(&self, host: &'a [f32], staging: &'a mut GpuBuf) -> GpuRef<'a> {
        if staging.inner.is_none() || staging.len != host.len() {
            *staging = GpuBuf {
                len: host.len(),
                inner: Some((self.ctx.clone(), self.ctx.buffer(host.len()))),
            };
        }
        let buf = staging.raw().expect("allocated above");
        self.ctx.upload_bytes(bytemuck::cast_slice(host), buf, 0);
        Self::view(staging)
    }

    fn write_from_host(&self, dst: GpuMut<'_>, mut f: impl FnMut() -> f32) {
        let values: Vec<f32> = (0..dst.len).map(|_| f()).collect();
        if let (Some(buf), _) = dst.arg() {
            self.ctx
                .upload_bytes(bytemuck::cast_slice(&values), buf, dst.off as u64 * 4);
        }
    }

    fn view(buf: &GpuBuf) -> GpuRef<'_> {
        GpuRef {
            buf: buf.raw(),
            off: 0,
            len: buf.len,
        }
    }

    fn view_mut(buf: &mut GpuBuf) -> GpuMut<'_> {
        GpuMut::new(buf.raw(), 0, buf.len)
    }

    fn shorten<'a: 'b, 'b>(r: GpuRef<'a>) -> GpuRef<'b> {
        r
    }

    fn reborrow<'b>(m: &'b mut GpuMut<'_>) -> GpuMut<'b> {
        GpuMut::new(m.buf, m.off, m.len)
    }

    fn copy(&self, src: GpuRef<'_>, dst: GpuMut<'_>) {
        let n = dst.len;
        self.elementwise(&COPY, dst, Some(src), None, Ew::n(n));
    }

    fn fill(&self, dst: GpuMut<'_>, value: f32) {
        let e = Ew {
            f: value,
            ..Ew::n(dst.len)
        };
        self.elementwise(&FILL, dst, None, None, e);
    }

    fn add(&self, src: GpuRef<'_>, dst: GpuMut<'_>) {
        let n = dst.len;
        self.elementwise(&ADD, dst, Some(src), None, Ew::n(n));
    }

    fn mul(&self, src: GpuRef<'_>, dst: GpuMut<'_>) {
        let n = dst.len;
        self.elementwise(&MUL, dst, Some(src), None, Ew::n(n));
    }

    fn mul_into(&self, a: GpuRef<'_>, b: GpuRef<'_>, dst: GpuMut<'_>) {
        let n = dst.len;
        self.elementwise(&MUL_INTO, dst, Some(a), Some(b), Ew::n(n));
    }

    fn copy_block(
        &self,
        rows: usize,
        width: usize,
        (src, ss): (GpuRef<'_>, usize),
        (dst, ds): (GpuMut<'_>, usize),
        accumulate: bool,
    ) {
        let kernel = if accumulate { &ADD_BLOCK } else { &COPY_BLOCK };
        let e = Ew {
            width: width as u32,
            sa: ss as u32,
            sc: ds as u32,
            ..Ew::n(rows * width)
        };
        self.elementwise(kernel, dst, Some(src), None, e);
    }

    fn set_padded_rows(
        &self,
        lengths: &[usize],
        s: usize,
        src: Option<GpuRef<'_>>,
        dst: GpuMut<'_>,
    ) {
        if lengths.iter().all(|&l| l > s) {
            return;
        }
        let n = dst.len / lengths.len().max(1);
        let lens: Vec<u32> = lengths.iter().map(|&l| l as u32).collect();
        let len = dst.len;
        match src {
            Some(src) => self.indexed(&SET_PADDED, src, dst, &lens, [n as u32, 0, s as u32], len),
            None => {
                let none = GpuRef {
                    buf: None,
                    off: 0,
                    len: 0,
                };
                self.indexed(&ZERO_PADDED, none, dst, &lens, [n as u32, 0, s as u32], len)
            }
        }
    }

    fn add_padded_rows(&self, lengths: &[usize], s: usize, src: GpuRef<'_>, dst: GpuMut<'_>) {
        if lengths.iter().all(|&l| l > s) {
            return;
        }
        let n = dst.len / lengths.len().max(1);
        let lens: Vec<u32> = lengths.iter().map(|&l| l as u32).collect();
        let len = dst.len;
        self.indexed(&ADD_PADDED, src, dst, &lens, [n as u32, 0, s as u32], len);
    }

    fn sample_token(
        &self,
        logits: GpuRef<'_>,
        draw: super::random::Draw,
        (key, step): (u64, u32),
        token: GpuMut<'_>,
        onehot: GpuMut<'_>,
    ) {
        let [(l, ol)] = [logits.arg()];
        let [(t, ot), (o, oo)] = [token.arg(), onehot.arg()];
        let words = [
            logits.len as u32,
            ol,
            ot,
            oo,
            key as u32,
            (key >> 32) as u32,
            step,
            draw.top_k as u32,
            draw.greedy as u32,
            draw.temperature.to_bits(),
        ];
        self.run(&SAMPLE_TOKEN, &words, &[l, t, o], Grid::Tiles(1, 1));
    }

    fn dropout_mask(&self, mask: GpuMut<'_>, p: f64, key: u64) {
        let n = mask.len;
        let (c, oc) = mask.arg();
        let keep = (1.0 / (1.0 - p)) as f32;
        let words = [
            n as u32,
            oc,
            key as u32,
            (key >> 32) as u32,
            super::random::drop_threshold(p),
            keep.to_bits(),
        ];
        self.run(&DROPOUT_MASK, &words, &[c], Grid::Threads(n));
    }

    fn rows<const N: usize, const M: usize>(
        &self,
        kernel: &impl RowKernel<f32, N, M>,
        rows: usize,
        ins: [GpuRef<'_>; N],
        outs: [GpuMut<'_>; M],
    ) {
        fn of<R: RowKernel<f32, N, M>, const N: usize, const M: usize>(_: &R) -> Kernel {
            rows::kernel::<R, N, M>()
        }
        let compiled = of(kernel);
        let rows = rows.max(1);
        let units = kernel.units();
        let mut words = [0u32; 4 + 2 * rows::MAX_BUFFERS];
        words[0] = rows as u32;
        words[1] = units as u32;
        let mut args: Vec<Arg<'_>> = Vec::with_capacity(N + M);
        let views = ins
            .iter()
            .map(|v| (v.arg(), v.len))
            .chain(outs.iter().map(|v| (v.arg(), v.len)));
        for (b, ((buf, off), len)) in views.enumerate() {
            words[4 + b] = off;
            words[4 + rows::MAX_BUFFERS + b] = (len / rows) as u32;
            args.push(buf);
        }
        self.run(&compiled, &words, &args, Grid::Threads(rows * units));
    }

    fn matmul(
        &self,
        m: usize,
        n: usize,
        k: usize,
        a: GpuRef<'_>,
        ta: Trans,
        b: GpuRef<'_>,
        tb: Trans,
        c: GpuMut<'_>,
        accumulate: bool,
    ) {
        self.gemm((m, n, k), (a, ta), (b, tb), c, (accumulate as u32, None));
    }

    fn matmul_onto(
        &self,
        dims: (usize, usize, usize),
        a: GpuRef<'_>,
        ta: Trans,
        b: GpuRef<'_>,
        tb: Trans,
        d: GpuRef<'_>,
        c: GpuMut<'_>,
    ) {
        self.gemm(dims, (a, ta), (b, tb), c, (2, Some(d)));
    }

    /// The GEMM kernel reads `W_hh` transposed in place: nothing to prepare.
    fn recurrent_weight<'a>(
        &self,
        _rows: usize,
        _g: usize,
        _h: usize,
        w_hh: GpuRef<'a>,
        _scratch: &'a mut GpuBuf,
    ) -> (GpuRef<'a>, Trans) {
        (w_hh, Trans::Yes)
    }

    fn gather_rows(&self, table: GpuRef<'_>, tokens: &[u32], out: GpuMut<'_>) {
        let d = out.len / tokens.len().max(1);
        let n = out.len;
        self.indexed(&GATHER_ROWS, table, out, tokens, [d as u32, 0, 0], n);
    }

    fn scatter_add_rows(&self, d: GpuRef<'_>, tokens: &[u32], dtable: GpuMut<'_>) {
        let n = d.len / tokens.len().max(1);
        let (idx, u) = by_token(tokens);
        self.indexed(
            &SCATTER_ROWS,
            d,
            dtable,
            &idx,
            [n as u32, 0, u as u32],
            u * n,
        );
    }

    fn gather_columns(&self, w: GpuRef<'_>, v: usize, tokens: &[u32], out: GpuMut<'_>) {
        let h = w.len / v;
        let n = out.len;
        self.indexed(&GATHER_COLUMNS, w, out, tokens, [h as u32, v as u32, 0], n);
    }

    fn scatter_add_columns(&self, d: GpuRef<'_>, tokens: &[u32], dw: GpuMut<'_>, v: usize) {
        let h = dw.len / v;
        let (idx, u) = by_token(tokens);
        self.indexed(
            &SCATTER_COLUMNS,
            d,
            dw,
            &idx,
            [h as u32, v as u32, u as u32],
            u * h,
        );
    }

    fn add_bias(&self, x: GpuMut<'_>, bias: GpuRef<'_>) {
        let e = Ew {
            width: bias.len as u32,
            ..Ew::n(x.len)
        };
        self.elementwise(&ADD_BIAS, x, Some(bias), None, e);
    }

    fn set_rows(&self, x: GpuMut<'_>, bias: GpuRef<'_>) {
        let e = Ew {
            width: bias.len as u32,
            ..Ew::n(x.len)
        };
        self.elementwise(&SET_ROWS, x, Some(bias), None, e);
    }

    fn sum_rows_into(&self, d: GpuRef<'_>, db: GpuMut<'_>) {
        let rows = d.len / db.len.max(1);
        let e = Ew {
            sa: rows as u32,
            ..Ew::n(db.len)
        };
        self.elementwise(&SUM_ROWS, db, Some(d), None, e);
    }

    fn activate(&self, act: Activation, x: GpuMut<'_>) {
        let kernel = match act {
            Activation::Tanh => &TANH,
            Activation::Relu => &RELU,
        };
        let n = x.len;
        self.elementwise(kernel, x, None, None, Ew::n(n));
    }

    fn activate_backward(&self, act: Activation, y: GpuRef<'_>, d: GpuMut<'_>) {
        let kernel = match act {
            Activation::Tanh => &TANH_BACKWARD,
            Activation::Relu => &RELU_BACKWARD,
        };
        let n = d.len;
        self.elementwise(kernel, d, Some(y), None, Ew::n(n));
    }

    fn mse(&self, y: GpuRef<'_>, target: GpuRef<'_>, dy: GpuMut<'_>) -> f64 {
        let n = y.len;
        if n == 0 {
            return 0.0;
        }
        self.read(self.reduce(&MSE, n, y, Some(target), Some(dy))) as f64 / n as f64
    }

    fn mae(&self, y: GpuRef<'_>, target: GpuRef<'_>, dy: GpuMut<'_>) -> f64 {
        let n = y.len;
        if n == 0 {
            return 0.0;
        }
        self.read(self.reduce(&MAE, n, y, Some(target), Some(dy))) as f64 / n as f64
    }

    fn softmax_rows(&self, x: GpuMut<'_>, cols: usize, n: usize) {
        let rows = x.len / cols.max(1);
        let (x, ox) = x.arg();
        let words = [rows as u32, cols as u32, n as u32, ox, 0, 0];
        self.softmax_kernel(&SOFTMAX_ROWS, rows, words, [x, None, None, None]);
    }

    fn softmax_rows_backward(&self, y: GpuRef<'_>, d: GpuMut<'_>, cols: usize) {
        let rows = y.len / cols.max(1);
        let ((y, oy), (d, od)) = (y.arg(), d.arg());
        let words = [rows as u32, cols as u32, 0, oy, od, 0];
        self.softmax_kernel(&SOFTMAX_BACKWARD, rows, words, [y, d, None, None]);
    }

    fn additive_scores(
        &self,
        q: GpuRef<'_>,
        u: GpuRef<'_>,
        v: GpuRef<'_>,
        z: GpuMut<'_>,
        e: GpuMut<'_>,
    ) {
        let a = v.len;
        let (t, s) = (q.len / a.max(1), u.len / a.max(1));
        let [(q, oq), (u, ou), (v, ov)] = [q.arg(), u.arg(), v.arg()];
        let [(z, oz), (e, oe)] = [z.arg(), e.arg()];
        let params = [t as u32, s as u32, a as u32, oq, ou, ov, oz, oe, 0];
        self.run(
            &SCORES,
            &params,
            &[q, u, v, z, e, None],
            Grid::Threads(t * s),
        );
    }

    fn additive_scores_backward(
        &self,
        z: GpuRef<'_>,
        v: GpuRef<'_>,
        de: GpuRef<'_>,
        dv: GpuMut<'_>,
        dq: GpuMut<'_>,
        du: GpuMut<'_>,
    ) {
        let a = v.len;
        let (t, s) = (dq.len / a.max(1), du.len / a.max(1));
        let [(z, oz), (v, ov), (de, ode)] = [z.arg(), v.arg(), de.arg()];
        let [(dv, odv), (dq, odq), (du, odu)] = [dv.arg(), dq.arg(), du.arg()];
        let params = [t as u32, s as u32, a as u32, oz, ov, ode, odv, odq, odu];
        let args = [z, v, de, dv, dq, du];
        self.run(&SCORES_BACKWARD_V, &params, &args, Grid::Threads(a));
        self.run(&SCORES_BACKWARD_Q, &params, &args, Grid::Threads(t * a));
        self.run(&SCORES_BACKWARD_U, &params, &args, Grid::Threads(s * a));
    }

    fn mlstm_block_forward(
        &self,
        m: &MlstmBlock<'_>,
        xg: GpuRef<'_>,
        c0: GpuRef<'_>,
        hs: GpuMut<'_>,
        c: GpuMut<'_>,
    ) -> bool {
        self.mlstm_forward(m, xg, c0, hs, c)
    }

    fn mlstm_block_backward(
        &self,
        m: &MlstmBlock<'_>,
        xg: GpuRef<'_>,
        c0: GpuRef<'_>,
        dh: GpuRef<'_>,
        dc: GpuMut<'_>,
        dg: GpuMut<'_>,
        dh0: GpuMut<'_>,
    ) -> bool {
        self.mlstm_backward(m, xg, c0, dh, dc, dg, dh0)
    }

    fn update(
        &self,
        rule: Update<f32>,
        params: GpuMut<'_>,
        grads: GpuRef<'_>,
        m0: GpuMut<'_>,
        m1: GpuMut<'_>,
    ) {
        self.apply_update(rule, params, grads, (m0, m1), None);
    }

    fn update_guarded(
        &self,
        rule: Update<f32>,
        params: GpuMut<'_>,
        grads: GpuRef<'_>,
        m: (GpuMut<'_>, GpuMut<'_>),
        guard: GpuRef<'_>,
    ) {
        self.apply_update(rule, params, grads, m, Some(guard));
    }

    fn sum_squares(&self, x: GpuRef<'_>) -> f64 {
        if x.len == 0 {
            return 0.0;
        }
        self.read(self.reduce(&SUM_SQUARES, x.len, x, None, None)) as f64
    }

    fn scale(&self, x: GpuMut<'_>, s: f32) {
        let e = Ew {
            f: s,
            ..Ew::n(x.len)
        };
        self.elementwise(&SCALE, x, None, None, e);
    }

    fn clamp(&self, x: GpuMut<'_>, lo: f32, hi: f32) -> bool {
        if x.len == 0 {
            return true;
        }
        // Counted before clamping, read after recording both.
        let before = GpuRef {
            buf: x.buf,
            off: x.off,
            len: x.len,
        };
        let bad = self.reduce(&NON_FINITE, x.len, before, None, None);
        let e = Ew {
            f: lo,
            g: hi,
            ..Ew::n(x.len)
        };
        self.elementwise(&CLAMP, x, None, None, e);
        self.read(bad) == 0.0
    }

    fn all_finite(&self, x: GpuRef<'_>) -> bool {
        x.len == 0 || self.read(self.reduce(&NON_FINITE, x.len, x, None, None)) == 0.0
    }

    fn softmax_cross_entropy_to(
        &self,
        logits: GpuRef<'_>,
        v: usize,
        targets: &[u32],
        scale: f32,
        dlogits: GpuMut<'_>,
        loss: GpuMut<'_>,
    ) -> usize {
        if targets.is_empty() {
            self.fill(loss, 0.0);
            return 0;
        }
        self.place(
            self.cross_entropy_sum(logits, v, targets, scale, dlogits),
            loss,
        );
        targets.iter().filter(|&&t| t != IGNORE).count()
    }

    fn mse_to(&self, y: GpuRef<'_>, target: GpuRef<'_>, dy: GpuMut<'_>, out: GpuMut<'_>) {
        if y.len == 0 {
            return self.fill(out, 0.0);
        }
        self.place(self.reduce(&MSE, y.len, y, Some(target), Some(dy)), out);
    }

    fn mae_to(&self, y: GpuRef<'_>, target: GpuRef<'_>, dy: GpuMut<'_>, out: GpuMut<'_>) {
        if y.len == 0 {
            return self.fill(out, 0.0);
        }
        self.place(self.reduce(&MAE, y.len, y, Some(target), Some(dy)), out);
    }

    fn sum_squares_to(&self, x: GpuRef<'_>, out: GpuMut<'_>) {
        if x.len == 0 {
            return self.fill(out, 0.0);
        }
        self.place(self.reduce(&SUM_SQUARES, x.len, x, None, None), out);
    }

    fn finite_flag_to(&self, x: GpuRef<'_>, out: GpuMut<'_>) {
        if x.len == 0 {
            return self.fill(out, 0.0);
        }
        self.flag_non_finite(x, out);
    }

    fn clamp_to(&self, x: GpuMut<'_>, lo: f32, hi: f32, out: GpuMut<'_>) {
        let before = GpuRef {
            buf: x.buf,
            off: x.off,
            len: x.len,
        };
        self.finite_flag_to(before, out);
        let e = Ew {
            f: lo,
            g: hi,
            ..Ew::n(x.len)
        };
        self.elementwise(&CLAMP, x, None, None, e);
    }

    fn scale_to_norm(&self, x: GpuMut<'_>, norm_sq: GpuRef<'_>, c: f64) {
        let e = Ew {
            f: c as f32,
            ..Ew::n(x.len)
        };
        self.elementwise(&SCALE_TO_NORM, x, Some(norm_sq), None, e);
    }

    fn softmax_cross_entropy(
        &self,
        logits: GpuRef<'_>,
        v: usize,
        targets: &[u32],
        scale: f32,
        dlogits: GpuMut<'_>,
    ) -> (f64, usize) {
        if targets.is_empty() {
            return (0.0, 0);
        }
        let loss = self.read(self.cross_entropy_sum(logits, v, targets, scale, dlogits)) as f64;
        (loss, targets.iter().filter(|&&t| t != IGNORE).count())
    }
}
