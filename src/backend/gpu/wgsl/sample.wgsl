// One draw of a batch-1 sample, in one workgroup: the token `pick` of
// `backend/random.rs` chooses from logits (V), the same rule and random
// bits; its id goes to tokens[ot] (as a value) and its one-hot row to
// onehot, the next step's input.

struct P {
    v: u32,
    ol: u32,
    ot: u32,
    oo: u32,
    key_lo: u32,
    key_hi: u32,
    step: u32,
    top_k: u32,
    greedy: u32,
    temperature: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<f32>;
@group(0) @binding(3) var<storage, read_write> onehot: array<f32>;

var<workgroup> rv: array<f32, 256>;
var<workgroup> ri: array<u32, 256>;
var<workgroup> chosen: u32;

fn group_min(t: u32, v: f32) -> f32 {
    rv[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) { rv[t] = min(rv[t], rv[t + s]); }
        workgroupBarrier();
    }
    let m = rv[0];
    workgroupBarrier();
    return m;
}

fn group_sum(t: u32, v: f32) -> f32 {
    rv[t] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) { rv[t] += rv[t + s]; }
        workgroupBarrier();
    }
    let m = rv[0];
    workgroupBarrier();
    return m;
}

@compute @workgroup_size(256)
fn sample(@builtin(local_invocation_id) lid: vec3<u32>) {
    let t = lid.x;
    let neg_inf = bitcast<f32>(0xff800000u);
    // The largest logit, the first on ties.
    var bv = neg_inf;
    var bi = 0xffffffffu;
    for (var j = t; j < p.v; j += WG) {
        let x = logits[p.ol + j];
        if (x > bv || bi == 0xffffffffu) { bv = x; bi = j; }
    }
    rv[t] = bv;
    ri[t] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            let ov = rv[t + s];
            let oi = ri[t + s];
            if (oi != 0xffffffffu && (ri[t] == 0xffffffffu || ov > rv[t] || (ov == rv[t] && oi < ri[t]))) {
                rv[t] = ov;
                ri[t] = oi;
            }
        }
        workgroupBarrier();
    }
    let mx = rv[0];
    let max_at = ri[0];
    workgroupBarrier();
    // Top-k: the smallest logit with fewer than k above it.
    var cutoff = neg_inf;
    if (p.greedy == 0u && p.top_k > 0u && p.top_k < p.v) {
        var m = bitcast<f32>(0x7f800000u);
        for (var j = t; j < p.v; j += WG) {
            let x = logits[p.ol + j];
            var above = 0u;
            for (var i = 0u; i < p.v; i++) {
                if (logits[p.ol + i] > x) { above++; }
            }
            if (above < p.top_k) { m = min(m, x); }
        }
        cutoff = group_min(t, m);
    }
    var acc = 0.0;
    for (var j = t; j < p.v; j += WG) {
        let x = logits[p.ol + j];
        if (x >= cutoff) { acc += exp((x - mx) / p.temperature); }
    }
    let total = group_sum(t, acc);
    if (t == 0u) {
        var pick = max_at;
        if (p.greedy == 0u) {
            let bits = bits24(p.key_lo, p.key_hi, p.step);
            var u = f32(bits) / 16777216.0 * total;
            var found = false;
            var last = max_at;
            for (var j = 0u; j < p.v; j++) {
                let x = logits[p.ol + j];
                var pj = 0.0;
                if (x >= cutoff) { pj = exp((x - mx) / p.temperature); }
                if (pj > 0.0) { last = j; }
                if (!found) {
                    if (u < pj) {
                        pick = j;
                        found = true;
                    } else {
                        u -= pj;
                    }
                }
            }
            if (!found) { pick = last; }
        }
        chosen = pick;
        tokens[p.ot] = f32(pick);
    }
    workgroupBarrier();
    let c = chosen;
    for (var j = t; j < p.v; j += WG) {
        onehot[p.oo + j] = select(0.0, 1.0, j == c);
    }
}
