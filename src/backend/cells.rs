//! The CPU's fused pointwise kernels of the LSTM and GRU steps: one pass
//! over each row, no temporaries. `H` is the hidden size; states are
//! `(B, H)`, LSTM gates `(B, 4H)` and GRU gates `(B, 3H)`, row-major.

use crate::tensor::Scalar;

#[inline(always)]
fn sigmoid<S: Scalar>(x: S) -> S {
    S::one() / (S::one() + (-x).exp_fast())
}

/// `x = σ(x)` over a slice (a loop of its own, so it vectorizes).
fn sigmoid_all<S: Scalar>(x: &mut [S]) {
    x.iter_mut().for_each(|v| *v = sigmoid(*v));
}

/// `x = tanh(x)` over a slice.
fn tanh_all<S: Scalar>(x: &mut [S]) {
    x.iter_mut().for_each(|v| *v = v.tanh_fast());
}

/// See [`crate::backend::Backend::lstm_step`].
pub fn lstm_step<S: Scalar>(
    hn: usize,
    gates: &mut [S],
    c_prev: &[S],
    c: &mut [S],
    tanh_c: &mut [S],
    h: &mut [S],
) {
    let rows = gates.chunks_exact_mut(4 * hn).zip(c_prev.chunks_exact(hn));
    let outs = c
        .chunks_exact_mut(hn)
        .zip(tanh_c.chunks_exact_mut(hn))
        .zip(h.chunks_exact_mut(hn));
    for ((g, cp), ((c, tc), h)) in rows.zip(outs) {
        sigmoid_all(&mut g[..2 * hn]);
        tanh_all(&mut g[2 * hn..3 * hn]);
        sigmoid_all(&mut g[3 * hn..]);
        let (i, f, gg, o) = (
            &g[..hn],
            &g[hn..2 * hn],
            &g[2 * hn..3 * hn],
            &g[3 * hn..4 * hn],
        );
        for ((((c, &f), &cp), &i), &gg) in c.iter_mut().zip(f).zip(cp).zip(i).zip(gg) {
            *c = f * cp + i * gg;
        }
        tc.copy_from_slice(c);
        tanh_all(tc);
        for ((h, &o), &t) in h.iter_mut().zip(o).zip(tc.iter()) {
            *h = o * t;
        }
    }
}

/// See [`crate::backend::Backend::lstm_step_backward`].
pub fn lstm_step_backward<S: Scalar>(
    hn: usize,
    gates: &[S],
    c_prev: &[S],
    tanh_c: &[S],
    dh: &[S],
    dc: &mut [S],
    dgates: &mut [S],
) {
    let one = S::one();
    let ins = gates
        .chunks_exact(4 * hn)
        .zip(c_prev.chunks_exact(hn))
        .zip(tanh_c.chunks_exact(hn));
    let outs = dh
        .chunks_exact(hn)
        .zip(dc.chunks_exact_mut(hn))
        .zip(dgates.chunks_exact_mut(4 * hn));
    for (((g, cp), tc), ((dh, dc), dg)) in ins.zip(outs) {
        let (i, f, gg, o) = (&g[..hn], &g[hn..2 * hn], &g[2 * hn..3 * hn], &g[3 * hn..]);
        let (di, rest) = dg.split_at_mut(hn);
        let (df, rest) = rest.split_at_mut(hn);
        let (dgg, d_o) = rest.split_at_mut(hn);
        let (d_o, cp, tc, dh, dc) = (
            &mut d_o[..hn],
            &cp[..hn],
            &tc[..hn],
            &dh[..hn],
            &mut dc[..hn],
        );
        for j in 0..hn {
            // h = o·tanh(c): through o, and through c into the carried dc.
            let dct = dc[j] + dh[j] * o[j] * (one - tc[j] * tc[j]);
            d_o[j] = dh[j] * tc[j] * o[j] * (one - o[j]);
            // c = f·c_prev + i·g
            di[j] = dct * gg[j] * i[j] * (one - i[j]);
            df[j] = dct * cp[j] * f[j] * (one - f[j]);
            dgg[j] = dct * i[j] * (one - gg[j] * gg[j]);
            dc[j] = dct * f[j];
        }
    }
}

/// See [`crate::backend::Backend::gru_step`].
pub fn gru_step<S: Scalar>(
    hn: usize,
    xg: &[S],
    gh: &[S],
    h_prev: &[S],
    gates: &mut [S],
    hn_out: &mut [S],
    h: &mut [S],
) {
    let ins = xg
        .chunks_exact(3 * hn)
        .zip(gh.chunks_exact(3 * hn))
        .zip(h_prev.chunks_exact(hn));
    let outs = gates
        .chunks_exact_mut(3 * hn)
        .zip(hn_out.chunks_exact_mut(hn))
        .zip(h.chunks_exact_mut(hn));
    for (((x, g), hp), ((gt, hno), h)) in ins.zip(outs) {
        // r, z = σ(x + g) over the first 2H; n = tanh(xn + r·hn).
        for ((o, &a), &b) in gt[..2 * hn].iter_mut().zip(&x[..2 * hn]).zip(&g[..2 * hn]) {
            *o = a + b;
        }
        sigmoid_all(&mut gt[..2 * hn]);
        hno.copy_from_slice(&g[2 * hn..]);
        let (rz, n) = gt.split_at_mut(2 * hn);
        for (((n, &xn), &r), &hv) in n
            .iter_mut()
            .zip(&x[2 * hn..])
            .zip(&rz[..hn])
            .zip(hno.iter())
        {
            *n = xn + r * hv;
        }
        tanh_all(n);
        for (((h, &z), &n), &hp) in h.iter_mut().zip(&rz[hn..]).zip(n.iter()).zip(hp) {
            *h = (S::one() - z) * n + z * hp;
        }
    }
}

/// See [`crate::backend::Backend::gru_step_backward`].
#[allow(clippy::too_many_arguments)]
pub fn gru_step_backward<S: Scalar>(
    hn: usize,
    gates: &[S],
    hn_in: &[S],
    h_prev: &[S],
    dh: &[S],
    dgx: &mut [S],
    dgh: &mut [S],
    dprev: &mut [S],
) {
    let one = S::one();
    let ins = gates
        .chunks_exact(3 * hn)
        .zip(hn_in.chunks_exact(hn))
        .zip(h_prev.chunks_exact(hn))
        .zip(dh.chunks_exact(hn));
    let outs = dgx
        .chunks_exact_mut(3 * hn)
        .zip(dgh.chunks_exact_mut(3 * hn))
        .zip(dprev.chunks_exact_mut(hn));
    for ((((g, hnv), hp), dh), ((dx, dhh), dp)) in ins.zip(outs) {
        let (r, z, n) = (&g[..hn], &g[hn..2 * hn], &g[2 * hn..3 * hn]);
        let (hnv, hp, dh, dx, dhh, dp) = (
            &hnv[..hn],
            &hp[..hn],
            &dh[..hn],
            &mut dx[..3 * hn],
            &mut dhh[..3 * hn],
            &mut dp[..hn],
        );
        for j in 0..hn {
            // h = (1 - z)·n + z·h_prev
            let dn = dh[j] * (one - z[j]) * (one - n[j] * n[j]);
            let dz = dh[j] * (hp[j] - n[j]) * z[j] * (one - z[j]);
            // n = tanh(xn + r·hn)
            let dr = dn * hnv[j] * r[j] * (one - r[j]);
            dx[j] = dr;
            dx[hn + j] = dz;
            dx[2 * hn + j] = dn;
            dhh[j] = dr;
            dhh[hn + j] = dz;
            dhh[2 * hn + j] = dn * r[j];
            dp[j] = dh[j] * z[j];
        }
    }
}
