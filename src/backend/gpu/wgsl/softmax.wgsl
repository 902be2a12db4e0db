// Row softmaxes, one workgroup per row: the cross-entropy loss of the
// output layer and attention's masked softmax, with their backwards.

struct P {
    rows: u32,
    // Row length (V, or the attention's columns).
    cols: u32,
    // Columns that count (attention; the rest are padding and get 0).
    n: u32,
    ox: u32,
    od: u32,
    // Loss scale (cross-entropy).
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: P;
// Logits, attention scores, or softmax outputs (backward).
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
// Gradients written (cross-entropy) or updated in place (backward).
@group(0) @binding(2) var<storage, read_write> d: array<f32>;
// Class targets (cross-entropy; IGNORE = 0xffffffff skips a row).
@group(0) @binding(3) var<storage, read_write> targets: array<u32>;
// Each row's loss (cross-entropy).
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;

var<workgroup> red: array<f32, 256>;

fn group_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    return m;
}

fn group_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
    let m = red[0];
    workgroupBarrier();
    return m;
}

// d = (softmax(x) - onehot(t)) · scale, loss[r] = -log softmax(x)[t];
// both 0 on ignored rows.
@compute @workgroup_size(256)
fn cross_entropy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = group_id(wid, nwg);
    if (r >= p.rows) { return; }
    let base = p.ox + r * p.cols;
    let dbase = p.od + r * p.cols;
    var m = -3.4028235e38;
    for (var j = lid.x; j < p.cols; j += WG) { m = max(m, x[base + j]); }
    m = group_max(lid.x, m);
    var s = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) { s += exp(x[base + j] - m); }
    s = group_sum(lid.x, s);
    let t = targets[r];
    let ignored = t == 0xffffffffu;
    let inv = p.scale / s;
    for (var j = lid.x; j < p.cols; j += WG) {
        var g = exp(x[base + j] - m) * inv;
        if (j == t) { g -= p.scale; }
        d[dbase + j] = select(g, 0.0, ignored);
    }
    if (lid.x == 0u) {
        var l = 0.0;
        if (!ignored) { l = log(s) - (x[base + t] - m); }
        loss[r] = l;
    }
}

// x = softmax over the first n columns of each row, 0 on the rest.
@compute @workgroup_size(256)
fn softmax(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = group_id(wid, nwg);
    if (r >= p.rows) { return; }
    let base = p.ox + r * p.cols;
    var m = -3.4028235e38;
    for (var j = lid.x; j < p.n; j += WG) { m = max(m, x[base + j]); }
    m = group_max(lid.x, m);
    var s = 0.0;
    for (var j = lid.x; j < p.n; j += WG) { s += exp(x[base + j] - m); }
    s = group_sum(lid.x, s);
    for (var j = lid.x; j < p.cols; j += WG) {
        x[base + j] = select(0.0, exp(x[base + j] - m) / s, j < p.n);
    }
}

// d = y ⊙ (d - Σ_j y_j d_j) per row (y in x).
@compute @workgroup_size(256)
fn softmax_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let r = group_id(wid, nwg);
    if (r >= p.rows) { return; }
    let base = p.ox + r * p.cols;
    let dbase = p.od + r * p.cols;
    var acc = 0.0;
    for (var j = lid.x; j < p.cols; j += WG) { acc += x[base + j] * d[dbase + j]; }
    let dot = group_sum(lid.x, acc);
    for (var j = lid.x; j < p.cols; j += WG) {
        d[dbase + j] = x[base + j] * (d[dbase + j] - dot);
    }
}
