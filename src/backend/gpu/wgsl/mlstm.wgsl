// The mLSTM's block on the device: the stabilized parallel form of
// cell/mlstm/head.rs for every (sequence r, head hd) of a block, over the
// sequence's real steps in the pass's reading order, and its backward.
// Equations: the module docs of cell/mlstm/head.rs; the block's semantics
// (padding, slots, state rows): Backend::mlstm_block_forward.
//
// Notation: NR = B·NH (sequence, head) pairs, rh = r·NH + hd; L = the
// sequence's real steps; j = a window position (0..L), read at step
// s = j (forward pass) or L-1-j (reverse pass). Window vectors live in
// `ws` at `o_* + rh·T + j`, T×T matrices at `o_* + (rh·T + j)·T + s`.
// Every thread of a kernel writes only its own outputs; sums run in
// the CPU's order where a thread owns one.

struct P {
    t: u32,
    b: u32,
    h: u32,
    nh: u32,
    d: u32,
    reverse: u32,
    // Whether ws[o_len + r] holds sequence r's length (else all are T).
    has_lengths: u32,
    // 1/√d (f32 bits).
    scale: u32,
    // Offsets of the views: xg, c0, hx (forward: hs; backward: dh),
    // cs (forward: c; backward: dc), dg, dh0.
    oxg: u32,
    oc0: u32,
    ohx: u32,
    ocs: u32,
    odg: u32,
    odh0: u32,
    // Offsets in ws: lengths (B), the window vectors (NR·T each), dm0
    // (NR), the T×T matrices E, dS, dℓ (NR·T·T each), the (T, d) rows
    // C0ᵀq, h̃, dh̃, dnum, and q, k/√d, v in window order (NR·T·d each).
    o_len: u32,
    o_f: u32,
    o_m: u32,
    o_arg: u32,
    o_g: u32,
    o_z: u32,
    o_den: u32,
    o_dz: u32,
    o_dl0: u32,
    o_drow: u32,
    o_dcol: u32,
    o_dlf: u32,
    o_dt: u32,
    o_dm0: u32,
    o_e: u32,
    o_qc: u32,
    o_ds: u32,
    o_dl: u32,
    o_ht: u32,
    o_dht: u32,
    o_dnum: u32,
    o_qw: u32,
    o_kw: u32,
    o_vw: u32,
}

@group(0) @binding(0) var<uniform> p: P;
// xg: (T, B, G) with G = 4H + 2NH: q, k, v, õ (H each), ĩ, f̃ (NH each).
@group(0) @binding(1) var<storage, read_write> xg: array<f32>;
// c0: (B, W·H), W = d + 2: C (NH, d, d), n (NH, d), m (each head's in its d columns).
@group(0) @binding(2) var<storage, read_write> c0: array<f32>;
// Forward: hs (T+1, B, H). Backward: dh (T, B, H).
@group(0) @binding(3) var<storage, read_write> hx: array<f32>;
// Forward: c (B, W·H). Backward: dc (B, W·H), dL/d(final state) in,
// dL/d(initial state) out.
@group(0) @binding(4) var<storage, read_write> cs: array<f32>;
// Backward: dg (T, B, G), dh0 (B, H).
@group(0) @binding(5) var<storage, read_write> dg: array<f32>;
@group(0) @binding(6) var<storage, read_write> dh0: array<f32>;
// Scratch (see P).
@group(0) @binding(7) var<storage, read_write> ws: array<f32>;

// ---- indexing ----

fn seq_len(r: u32) -> u32 {
    if (p.has_lengths == 0u) {
        return p.t;
    }
    return min(u32(ws[p.o_len + r]), p.t);
}

// The step read at window position j of a sequence of l steps.
fn step_of(j: u32, l: u32) -> u32 {
    return select(j, l - 1u - j, p.reverse != 0u);
}

fn gates() -> u32 {
    return 4u * p.h + 2u * p.nh;
}

// Where (step s, sequence r)'s row of xg (and of dg) starts.
fn xrow(s: u32, r: u32) -> u32 {
    return (s * p.b + r) * gates();
}

// Sequence r's state row: its start in c0 (add p.oc0) or cs (add p.ocs).
fn srow(r: u32) -> u32 {
    return r * (p.d + 2u) * p.h;
}

fn q_at(s: u32, r: u32, hd: u32, c: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + hd * p.d + c];
}

// The key divided by √d.
fn k_at(s: u32, r: u32, hd: u32, c: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + p.h + hd * p.d + c] * bitcast<f32>(p.scale);
}

fn v_at(s: u32, r: u32, hd: u32, c: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + 2u * p.h + hd * p.d + c];
}

fn o_at(s: u32, r: u32, hd: u32, c: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + 3u * p.h + hd * p.d + c];
}

fn i_at(s: u32, r: u32, hd: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + 4u * p.h + hd];
}

fn f_at(s: u32, r: u32, hd: u32) -> f32 {
    return xg[p.oxg + xrow(s, r) + 4u * p.h + p.nh + hd];
}

// The initial state of (r, hd): C0[a][c], n0[a], m0.
fn c0_at(r: u32, hd: u32, a: u32, c: u32) -> f32 {
    return c0[p.oc0 + srow(r) + (hd * p.d + a) * p.d + c];
}

fn n0_at(r: u32, hd: u32, a: u32) -> f32 {
    return c0[p.oc0 + srow(r) + p.d * p.h + hd * p.d + a];
}

fn m0_at(r: u32, hd: u32) -> f32 {
    return c0[p.oc0 + srow(r) + (p.d + 1u) * p.h + hd * p.d];
}

// dL/d(final state) of (r, hd) (backward: cs is dc): dC_T[a][c], dn_T[a].
fn dct_at(r: u32, hd: u32, a: u32, c: u32) -> f32 {
    return cs[p.ocs + srow(r) + (hd * p.d + a) * p.d + c];
}

fn dnt_at(r: u32, hd: u32, a: u32) -> f32 {
    return cs[p.ocs + srow(r) + p.d * p.h + hd * p.d + a];
}

// Window vector at (rh, j).
fn wv(o: u32, rh: u32, j: u32) -> u32 {
    return o + rh * p.t + j;
}

// T×T matrix element (rh, j, s).
fn wm(o: u32, rh: u32, j: u32, s: u32) -> u32 {
    return o + (rh * p.t + j) * p.t + s;
}

// (T, d) row element (rh, j, c).
fn wr(o: u32, rh: u32, j: u32, c: u32) -> u32 {
    return o + (rh * p.t + j) * p.d + c;
}

// q_j, k_j/√d, v_j at unit c, from the window copies.
fn qw(rh: u32, j: u32, c: u32) -> f32 {
    return ws[wr(p.o_qw, rh, j, c)];
}

fn kw(rh: u32, j: u32, c: u32) -> f32 {
    return ws[wr(p.o_kw, rh, j, c)];
}

fn vw(rh: u32, j: u32, c: u32) -> f32 {
    return ws[wr(p.o_vw, rh, j, c)];
}

// Thread counts: (r, hd, j, unit c), (r, hd, j), (r, hd, j, s), and the
// values of the state rows.
fn units() -> u32 {
    return p.b * p.nh * p.t * p.d;
}

fn steps() -> u32 {
    return p.b * p.nh * p.t;
}

fn pairs() -> u32 {
    return steps() * p.t;
}

fn rows() -> u32 {
    return p.b * (p.d + 2u) * p.h;
}

// A (sequence, head) pair: rh = r·NH + hd, and the sequence's length.
struct Pair {
    rh: u32,
    r: u32,
    hd: u32,
    l: u32,
}

fn pair(rh: u32) -> Pair {
    let r = rh / p.nh;
    return Pair(rh, r, rh % p.nh, seq_len(r));
}

// ln σ(x) = -softplus(-x).
fn log_sigmoid(x: f32) -> f32 {
    return -softplus(-x);
}

// D_js = exp(ℓ_js - m_j) = exp(F_j - F_s + ĩ_s - m_j) for s ≤ j.
fn decay(q: Pair, j: u32, s: u32) -> f32 {
    let ls = ws[wv(p.o_f, q.rh, j)] - ws[wv(p.o_f, q.rh, s)] + i_at(step_of(s, q.l), q.r, q.hd);
    return exp(ls - ws[wv(p.o_m, q.rh, j)]);
}

// ---- forward ----

// The window copies: q, k/√d, v of step step_of(j) in (rh, j, c) order,
// and C0ᵀq_j (unit c: Σ_a C0[a][c] q_j[a]). One thread per (r, hd, j,
// unit c).
fn windows_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let j = (i / p.d) % p.t;
    let c = i % p.d;
    if (j >= q.l) { return; }
    let s = step_of(j, q.l);
    ws[wr(p.o_qw, q.rh, j, c)] = q_at(s, q.r, q.hd, c);
    ws[wr(p.o_kw, q.rh, j, c)] = k_at(s, q.r, q.hd, c);
    ws[wr(p.o_vw, q.rh, j, c)] = v_at(s, q.r, q.hd, c);
    var acc = 0.0;
    for (var a = 0u; a < p.d; a++) {
        acc += q_at(s, q.r, q.hd, a) * c0_at(q.r, q.hd, a, c);
    }
    ws[wr(p.o_qc, q.rh, j, c)] = acc;
}

// F_j = Σ_{u≤j} ln σ(f̃_u). One thread per (r, hd).
fn log_forget_at(i: u32) {
    if (i >= p.b * p.nh) { return; }
    let q = pair(i);
    var acc = 0.0;
    for (var j = 0u; j < q.l; j++) {
        acc += log_sigmoid(f_at(step_of(j, q.l), q.r, q.hd));
        ws[wv(p.o_f, q.rh, j)] = acc;
    }
}

// m_j = max(ℓ_j0, max_{s≤j} ℓ_js), which log weight attained it (0 for
// ℓ_j0, s + 1 for ℓ_js; a tie goes to the later), g_j = exp(ℓ_j0 - m_j).
// One thread per (r, hd, j).
fn stabilizers_at(i: u32) {
    if (i >= steps()) { return; }
    let q = pair(i / p.t);
    let j = i % p.t;
    if (j >= q.l) { return; }
    let fj = ws[wv(p.o_f, q.rh, j)];
    let m0 = m0_at(q.r, q.hd);
    var best = fj + m0;
    var at = 0u;
    for (var s = 0u; s <= j; s++) {
        let ls = fj - ws[wv(p.o_f, q.rh, s)] + i_at(step_of(s, q.l), q.r, q.hd);
        if (ls >= best) {
            best = ls;
            at = s + 1u;
        }
    }
    ws[wv(p.o_m, q.rh, j)] = best;
    ws[wv(p.o_arg, q.rh, j)] = f32(at);
    ws[wv(p.o_g, q.rh, j)] = exp(fj + m0 - best);
}

// E_js = D_js (q_j·k_s) for s ≤ j. One thread per (r, hd, j, s).
fn scores_at(i: u32) {
    if (i >= pairs()) { return; }
    let q = pair(i / (p.t * p.t));
    let j = (i / p.t) % p.t;
    let s = i % p.t;
    if (j >= q.l || s > j) { return; }
    var dot = 0.0;
    for (var a = 0u; a < p.d; a++) {
        dot += qw(q.rh, j, a) * kw(q.rh, s, a);
    }
    ws[wm(p.o_e, q.rh, j, s)] = decay(q, j, s) * dot;
}

// z_j = g_j n0·q_j + Σ_s E_js, den_j = max(|z_j|, exp(-m_j)), and the
// final state's decay D_Tj (T = the last real step). One thread per
// (r, hd, j).
fn normalizers_at(i: u32) {
    if (i >= steps()) { return; }
    let q = pair(i / p.t);
    let j = i % p.t;
    if (j >= q.l) { return; }
    var nq = 0.0;
    for (var a = 0u; a < p.d; a++) {
        nq += n0_at(q.r, q.hd, a) * qw(q.rh, j, a);
    }
    var e = 0.0;
    for (var s = 0u; s <= j; s++) {
        e += ws[wm(p.o_e, q.rh, j, s)];
    }
    let z = ws[wv(p.o_g, q.rh, j)] * nq + e;
    ws[wv(p.o_z, q.rh, j)] = z;
    ws[wv(p.o_den, q.rh, j)] = max(abs(z), exp(-ws[wv(p.o_m, q.rh, j)]));
    ws[wv(p.o_dt, q.rh, j)] = decay(q, q.l - 1u, j);
}

// h̃_j at unit c: (g_j C0ᵀq_j + Σ_{s≤j} E_js v_s) / den_j.
fn hidden(q: Pair, j: u32, c: u32) -> f32 {
    var acc = 0.0;
    for (var s = 0u; s <= j; s++) {
        acc += ws[wm(p.o_e, q.rh, j, s)] * vw(q.rh, s, c);
    }
    let num = acc + ws[wv(p.o_g, q.rh, j)] * ws[wr(p.o_qc, q.rh, j, c)];
    return num / ws[wv(p.o_den, q.rh, j)];
}

// h = σ(õ) ⊙ h̃ into hs at the slot after step s. One thread per
// (r, hd, j, unit c).
fn outputs_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let j = (i / p.d) % p.t;
    let c = i % p.d;
    if (j >= q.l) { return; }
    let s = step_of(j, q.l);
    let slot = select(s + 1u, s, p.reverse != 0u);
    let h = hidden(q, j, c) * sigmoid(o_at(s, q.r, q.hd, c));
    hx[p.ohx + (slot * p.b + q.r) * p.h + q.hd * p.d + c] = h;
}

// The final state row: C_T = g_T C0 + Σ_s D_Ts k_s v_sᵀ, n_T = g_T n0 +
// Σ_s D_Ts k_s, m_T in each of the head's columns; c0's row for a
// sequence of no steps. One thread per (r, value of the row).
fn final_state_at(i: u32) {
    let row = (p.d + 2u) * p.h;
    if (i >= rows()) { return; }
    let r = i / row;
    let e = i % row;
    let out = p.ocs + i;
    let l = seq_len(r);
    if (l == 0u) {
        cs[out] = c0[p.oc0 + i];
        return;
    }
    let dh = p.d * p.h;
    if (e >= dh + p.h) {
        let hd = (e - dh - p.h) / p.d;
        cs[out] = ws[wv(p.o_m, r * p.nh + hd, l - 1u)];
        return;
    }
    let is_c = e < dh;
    // C[a][c] of head hd, or n[a].
    let hd = select((e - dh) / p.d, e / (p.d * p.d), is_c);
    let a = select((e - dh) % p.d, (e / p.d) % p.d, is_c);
    let c = select(0u, e % p.d, is_c);
    let rh = r * p.nh + hd;
    var acc = ws[wv(p.o_g, rh, l - 1u)] * c0[p.oc0 + i];
    for (var s = 0u; s < l; s++) {
        let wk = ws[wv(p.o_dt, rh, s)] * kw(rh, s, a);
        acc += select(wk, wk * vw(rh, s, c), is_c);
    }
    cs[out] = acc;
}

// Padded steps carry h: forward, the slot after the last real step (or
// the initial one) into the slots after; reverse, the initial slot T
// into slots L..T-1. One thread per (r, unit).
fn padding_at(i: u32) {
    if (i >= p.b * p.h) { return; }
    let l = seq_len(i / p.h);
    let bh = p.b * p.h;
    if (p.reverse == 0u) {
        let v = hx[p.ohx + l * bh + i];
        for (var slot = l + 1u; slot <= p.t; slot++) {
            hx[p.ohx + slot * bh + i] = v;
        }
    } else {
        let v = hx[p.ohx + p.t * bh + i];
        for (var slot = l; slot < p.t; slot++) {
            hx[p.ohx + slot * bh + i] = v;
        }
    }
}

// ---- backward ----

// What the padded steps' dL/dh reaches: h0's (dh0 +=) where no real step
// reads it after them (a reverse pass, or no real step). One thread per
// (r, unit).
fn padding_backward_at(i: u32) {
    if (i >= p.b * p.h) { return; }
    let l = seq_len(i / p.h);
    if (p.reverse == 0u && l > 0u) { return; }
    var acc = 0.0;
    for (var s = p.t; s > l; s--) {
        acc += hx[p.ohx + (s - 1u) * p.b * p.h + i];
    }
    dh0[p.odh0 + i] += acc;
}

// Per (r, hd, j, unit c): h̃ again, the output gate's gradient (into dg's
// õ rows), dh̃ = dh σ(õ) and dnum = dh̃ / den_j, dh being dL/dh at step s
// with, at the last real step of a forward pass, what the padded steps
// after it carried.
fn outputs_backward_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let j = (i / p.d) % p.t;
    let c = i % p.d;
    if (j >= q.l) { return; }
    let s = step_of(j, q.l);
    let unit = q.hd * p.d + c;
    var dh = 0.0;
    if (p.reverse == 0u && j == q.l - 1u) {
        for (var u = p.t; u > q.l; u--) {
            dh += hx[p.ohx + ((u - 1u) * p.b + q.r) * p.h + unit];
        }
    }
    dh += hx[p.ohx + (s * p.b + q.r) * p.h + unit];
    let ht = hidden(q, j, c);
    let so = sigmoid(o_at(s, q.r, q.hd, c));
    dg[p.odg + xrow(s, q.r) + 3u * p.h + unit] = dh * ht * so * (1.0 - so);
    let dht = dh * so;
    ws[wr(p.o_ht, q.rh, j, c)] = ht;
    ws[wr(p.o_dht, q.rh, j, c)] = dht;
    ws[wr(p.o_dnum, q.rh, j, c)] = dht / ws[wv(p.o_den, q.rh, j)];
}

// Per (r, hd, j): dz_j = -sign(z_j) (dh̃_j·h̃_j)/den_j where |z_j| is the
// max (else 0), and the initial state's log weight's
// dℓ_j0 = g_j (dnum_j·C0ᵀq_j + dz_j n0·q_j).
fn normalizers_backward_at(i: u32) {
    if (i >= steps()) { return; }
    let q = pair(i / p.t);
    let j = i % p.t;
    if (j >= q.l) { return; }
    var dot = 0.0;
    var dqc = 0.0;
    var nq = 0.0;
    for (var c = 0u; c < p.d; c++) {
        dot += ws[wr(p.o_dht, q.rh, j, c)] * ws[wr(p.o_ht, q.rh, j, c)];
        dqc += ws[wr(p.o_dnum, q.rh, j, c)] * ws[wr(p.o_qc, q.rh, j, c)];
        nq += n0_at(q.r, q.hd, c) * qw(q.rh, j, c);
    }
    let z = ws[wv(p.o_z, q.rh, j)];
    var dz = 0.0;
    if (abs(z) >= exp(-ws[wv(p.o_m, q.rh, j)])) {
        dz = -dot / ws[wv(p.o_den, q.rh, j)] * select(-1.0, 1.0, z >= 0.0);
    }
    ws[wv(p.o_dz, q.rh, j)] = dz;
    ws[wv(p.o_dl0, q.rh, j)] = (dqc + dz * nq) * ws[wv(p.o_g, q.rh, j)];
}

// dE_js = dnum_j·v_s + dz_j for s ≤ j, kept as dS_js = dE_js D_js and
// dℓ_js = dE_js E_js. One thread per (r, hd, j, s).
fn scores_backward_at(i: u32) {
    if (i >= pairs()) { return; }
    let q = pair(i / (p.t * p.t));
    let j = (i / p.t) % p.t;
    let s = i % p.t;
    if (j >= q.l || s > j) { return; }
    var acc = 0.0;
    for (var c = 0u; c < p.d; c++) {
        acc += ws[wr(p.o_dnum, q.rh, j, c)] * vw(q.rh, s, c);
    }
    let de = acc + ws[wv(p.o_dz, q.rh, j)];
    ws[wm(p.o_ds, q.rh, j, s)] = de * decay(q, j, s);
    ws[wm(p.o_dl, q.rh, j, s)] = de * ws[wm(p.o_e, q.rh, j, s)];
}

// The final state's log weights: dℓ_Ts = D_Ts k_s·(dC_T v_s + dn_T). One
// thread per (r, hd, s).
fn final_backward_at(i: u32) {
    if (i >= steps()) { return; }
    let q = pair(i / p.t);
    let s = i % p.t;
    if (s >= q.l) { return; }
    var dd = 0.0;
    for (var a = 0u; a < p.d; a++) {
        var u = 0.0;
        for (var c = 0u; c < p.d; c++) {
            u += dct_at(q.r, q.hd, a, c) * vw(q.rh, s, c);
        }
        dd += kw(q.rh, s, a) * (u + dnt_at(q.r, q.hd, a));
    }
    ws[wv(p.o_dlf, q.rh, s)] = dd * ws[wv(p.o_dt, q.rh, s)];
}

// The outputs' log-weight gradients summed over a row (Σ_s dℓ_js, into
// drow_j) and a column (Σ_t dℓ_tj, into dcol_j, with the final state's
// dℓ_Tj). One thread per (r, hd, j).
fn log_weight_sums_at(i: u32) {
    if (i >= steps()) { return; }
    let q = pair(i / p.t);
    let j = i % p.t;
    if (j >= q.l) { return; }
    var row = 0.0;
    for (var s = 0u; s <= j; s++) {
        row += ws[wm(p.o_dl, q.rh, j, s)];
    }
    var col = 0.0;
    for (var t = j; t < q.l; t++) {
        col += ws[wm(p.o_dl, q.rh, t, j)];
    }
    ws[wv(p.o_drow, q.rh, j)] = row;
    ws[wv(p.o_dcol, q.rh, j)] = col + ws[wv(p.o_dlf, q.rh, j)];
}

// The gates: the final state's remaining terms (g_T's dℓ_T0, and
// μ = dm_T - Σ of the final state's dℓ_T·, routed to the log weight that
// attained m_T), then dĩ_j = Σ_t dℓ_tj, dF_j = Σ_s dℓ_js + dℓ_j0 - Σ_t dℓ_tj,
// df̃_u = σ(-f̃_u) Σ_{j≥u} dF_j (into dg's ĩ and f̃ rows) and dm0 = Σ_j dℓ_j0.
// One thread per (r, hd).
fn gates_backward_at(i: u32) {
    if (i >= p.b * p.nh) { return; }
    let q = pair(i);
    if (q.l == 0u) { return; }
    let last = q.l - 1u;
    // dg_T = ⟨dC_T, C0⟩ + dn_T·n0; dm_T = Σ of the head's m columns.
    var dgt = 0.0;
    var dmt = 0.0;
    for (var a = 0u; a < p.d; a++) {
        for (var c = 0u; c < p.d; c++) {
            dgt += dct_at(q.r, q.hd, a, c) * c0_at(q.r, q.hd, a, c);
        }
        dgt += dnt_at(q.r, q.hd, a) * n0_at(q.r, q.hd, a);
        dmt += cs[p.ocs + srow(q.r) + (p.d + 1u) * p.h + q.hd * p.d + a];
    }
    let gt = dgt * ws[wv(p.o_g, q.rh, last)];
    var lf = 0.0;
    for (var s = 0u; s < q.l; s++) {
        lf += ws[wv(p.o_dlf, q.rh, s)];
    }
    let mu = dmt - (gt + lf);
    let arg = u32(ws[wv(p.o_arg, q.rh, last)]);
    var dm0 = 0.0;
    var acc = 0.0;
    for (var k = q.l; k > 0u; k--) {
        let j = k - 1u;
        var row = ws[wv(p.o_drow, q.rh, j)];
        var col = ws[wv(p.o_dcol, q.rh, j)];
        var l0 = ws[wv(p.o_dl0, q.rh, j)];
        if (j == last) {
            row += lf;
            l0 += gt;
            if (arg == 0u) { l0 += mu; } else { row += mu; }
        }
        if (arg != 0u && j == arg - 1u) { col += mu; }
        let s = step_of(j, q.l);
        dg[p.odg + xrow(s, q.r) + 4u * p.h + q.hd] = col;
        dm0 += l0;
        acc += row + l0 - col;
        dg[p.odg + xrow(s, q.r) + 4u * p.h + p.nh + q.hd] = acc * sigmoid(-f_at(s, q.r, q.hd));
    }
    ws[p.o_dm0 + q.rh] = dm0;
}

// dv_s = Σ_{j≥s} E_js dnum_j + D_Ts dC_Tᵀ k_s (into dg's v rows). One
// thread per (r, hd, s, unit c).
fn values_backward_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let s = (i / p.d) % p.t;
    let c = i % p.d;
    if (s >= q.l) { return; }
    let ss = step_of(s, q.l);
    var acc = 0.0;
    for (var j = s; j < q.l; j++) {
        acc += ws[wm(p.o_e, q.rh, j, s)] * ws[wr(p.o_dnum, q.rh, j, c)];
    }
    let w = ws[wv(p.o_dt, q.rh, s)];
    for (var a = 0u; a < p.d; a++) {
        acc += w * kw(q.rh, s, a) * dct_at(q.r, q.hd, a, c);
    }
    dg[p.odg + xrow(ss, q.r) + 2u * p.h + q.hd * p.d + c] = acc;
}

// dq_j = Σ_{s≤j} dS_js k_s + g_j (C0 dnum_j + dz_j n0) (into dg's q
// rows). One thread per (r, hd, j, unit c).
fn queries_backward_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let j = (i / p.d) % p.t;
    let c = i % p.d;
    if (j >= q.l) { return; }
    var acc = 0.0;
    for (var s = 0u; s <= j; s++) {
        acc += ws[wm(p.o_ds, q.rh, j, s)] * kw(q.rh, s, c);
    }
    var cd = 0.0;
    for (var b = 0u; b < p.d; b++) {
        cd += c0_at(q.r, q.hd, c, b) * ws[wr(p.o_dnum, q.rh, j, b)];
    }
    acc += ws[wv(p.o_g, q.rh, j)] * (cd + ws[wv(p.o_dz, q.rh, j)] * n0_at(q.r, q.hd, c));
    dg[p.odg + xrow(step_of(j, q.l), q.r) + q.hd * p.d + c] = acc;
}

// dk_s = (Σ_{j≥s} dS_js q_j + D_Ts (dC_T v_s + dn_T)) / √d (the key as
// projected; into dg's k rows). One thread per (r, hd, s, unit c).
fn keys_backward_at(i: u32) {
    if (i >= units()) { return; }
    let q = pair(i / (p.t * p.d));
    let s = (i / p.d) % p.t;
    let c = i % p.d;
    if (s >= q.l) { return; }
    let ss = step_of(s, q.l);
    var acc = 0.0;
    for (var j = s; j < q.l; j++) {
        acc += ws[wm(p.o_ds, q.rh, j, s)] * qw(q.rh, j, c);
    }
    var u = 0.0;
    for (var b = 0u; b < p.d; b++) {
        u += dct_at(q.r, q.hd, c, b) * vw(q.rh, s, b);
    }
    acc += ws[wv(p.o_dt, q.rh, s)] * (u + dnt_at(q.r, q.hd, c));
    dg[p.odg + xrow(ss, q.r) + p.h + q.hd * p.d + c] = acc * bitcast<f32>(p.scale);
}

// dL/d(initial state row), over dc's row for every sequence with a real
// step: dC0 = Σ_j g_j q_j dnum_jᵀ + g_T dC_T, dn0 = Σ_j g_j dz_j q_j +
// g_T dn_T, dm0 in each head's first m column (0 in the others). One
// thread per (r, value of the row); last, as it overwrites what the
// others read.
fn state_backward_at(i: u32) {
    let row = (p.d + 2u) * p.h;
    if (i >= rows()) { return; }
    let r = i / row;
    let e = i % row;
    let l = seq_len(r);
    if (l == 0u) { return; }
    let at = p.ocs + i;
    let dh = p.d * p.h;
    if (e >= dh + p.h) {
        let u = e - dh - p.h;
        cs[at] = select(0.0, ws[p.o_dm0 + r * p.nh + u / p.d], u % p.d == 0u);
        return;
    }
    let is_c = e < dh;
    // C[a][c] of head hd, or n[a].
    let hd = select((e - dh) / p.d, e / (p.d * p.d), is_c);
    let a = select((e - dh) % p.d, (e / p.d) % p.d, is_c);
    let c = e % p.d;
    let rh = r * p.nh + hd;
    var acc = 0.0;
    for (var j = 0u; j < l; j++) {
        let g = ws[wv(p.o_g, rh, j)];
        let x = select(g * ws[wv(p.o_dz, rh, j)], g * ws[wr(p.o_dnum, rh, j, c)], is_c);
        acc += qw(rh, j, a) * x;
    }
    cs[at] = acc + ws[wv(p.o_g, rh, l - 1u)] * cs[at];
}

// ---- entry points ----
//
// One per dispatch. Some run two or more of the functions above over
// consecutive ranges of threads: work that reads nothing the other
// writes, fused to save dispatches. The backward runs the forward's first
// five again.

@compute @workgroup_size(256)
fn windows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    windows_at(i);
}

@compute @workgroup_size(256)
fn log_forget(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    log_forget_at(i);
}

@compute @workgroup_size(256)
fn stabilizers(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    stabilizers_at(i);
}

@compute @workgroup_size(256)
fn scores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    scores_at(i);
}

@compute @workgroup_size(256)
fn normalizers(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    normalizers_at(i);
}

@compute @workgroup_size(256)
fn outputs(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    outputs_at(i);
}

@compute @workgroup_size(256)
fn final_state_and_padding(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < rows()) {
        final_state_at(i);
    } else {
        padding_at(i - rows());
    }
}

@compute @workgroup_size(256)
fn outputs_and_padding_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < units()) {
        outputs_backward_at(i);
    } else {
        padding_backward_at(i - units());
    }
}

@compute @workgroup_size(256)
fn normalizers_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    normalizers_backward_at(i);
}

@compute @workgroup_size(256)
fn scores_and_final_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < pairs()) {
        scores_backward_at(i);
    } else {
        final_backward_at(i - pairs());
    }
}

@compute @workgroup_size(256)
fn log_weight_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    log_weight_sums_at(i);
}

@compute @workgroup_size(256)
fn inputs_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    let n = units();
    if (i < n) {
        values_backward_at(i);
    } else if (i < 2u * n) {
        queries_backward_at(i - n);
    } else if (i < 3u * n) {
        keys_backward_at(i - 2u * n);
    } else {
        gates_backward_at(i - 3u * n);
    }
}

@compute @workgroup_size(256)
fn state_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    state_backward_at(i);
}
