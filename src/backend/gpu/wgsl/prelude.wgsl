// Shared by every kernel of recur's GPU backend (prepended to each module).

const WG: u32 = 256u;

// This thread's index in a one-dimensional dispatch folded into two
// dimensions (`Grid::Threads` on the host).
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return (wid.y * nwg.x + wid.x) * WG + lid.x;
}

// This workgroup's index in a dispatch of one workgroup per item
// (`Grid::Groups` on the host).
fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.y * nwg.x + wid.x;
}

// 1 / (1 + e^-x) without overflow for large |x|.
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// tanh without overflow for large |x| (some drivers' tanh returns NaN there).
fn tanh_(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}

// minGRU's and minLSTM's positive candidate g(v): v + 1/2 for v >= 0,
// sigmoid(v) below (cell/math.rs's `positive`).
fn positive(v: f32) -> f32 {
    return select(sigmoid(v), v + 0.5, v >= 0.0);
}

// g'(v) read from y = g(v): 1 where y >= 1/2, else y (1 - y).
fn positive_grad(y: f32) -> f32 {
    return select(y * (1.0 - y), 1.0, y >= 0.5);
}

// ln(1 + e^x) without overflow for large x.
fn softplus(x: f32) -> f32 {
    return max(x, 0.0) + log(1.0 + exp(-abs(x)));
}

// Whether x is neither infinite nor NaN, from its bits (compilers may
// assume that x == x).
fn finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// The counter-based generator of `backend/random.rs`: 24 random bits for
// value i of the stream keyed (key_lo, key_hi), the CPU's bits exactly.
fn mix(v: u32) -> u32 {
    var x = v;
    x ^= x >> 16u;
    x *= 0x7feb352du;
    x ^= x >> 15u;
    x *= 0x846ca68bu;
    return x ^ (x >> 16u);
}

fn bits24(key_lo: u32, key_hi: u32, i: u32) -> u32 {
    return mix(mix(i ^ key_lo) ^ key_hi) >> 8u;
}
