// Reductions to one value, deterministic (a fixed tree, no atomics): a
// first pass of G workgroups each sums its stride of the input into
// `part[op + g]`; `finish` sums those G partials into `part[out]`.
// The mean errors also write their gradient `d` as they go.

struct P {
    n: u32,
    ox: u32,
    oy: u32,
    od: u32,
    // Offset of the partials in `part`.
    op: u32,
    // Workgroups of the first pass (G), or partials to finish.
    groups: u32,
    // Where `finish` writes.
    out: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> d: array<f32>;
@group(0) @binding(4) var<storage, read_write> part: array<f32>;

var<workgroup> red: array<f32, 256>;

// Sum `acc` over the workgroup; the total is in red[0] afterwards.
fn reduce_group(lid: u32, acc: f32) {
    red[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) { red[lid] += red[lid + s]; }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn sum_squares(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = wid.x * WG + lid.x; i < p.n; i += p.groups * WG) {
        let v = x[p.ox + i];
        acc = fma(v, v, acc);
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.op + wid.x] = red[0]; }
}

// Counts the values that are infinite or NaN.
@compute @workgroup_size(256)
fn non_finite(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = wid.x * WG + lid.x; i < p.n; i += p.groups * WG) {
        acc += select(1.0, 0.0, finite(x[p.ox + i]));
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.op + wid.x] = red[0]; }
}

// Σ (x - y)², with d = 2 (x - y) / n.
@compute @workgroup_size(256)
fn mse(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    let n = f32(max(p.n, 1u));
    for (var i = wid.x * WG + lid.x; i < p.n; i += p.groups * WG) {
        let e = x[p.ox + i] - y[p.oy + i];
        acc = fma(e, e, acc);
        d[p.od + i] = (e + e) / n;
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.op + wid.x] = red[0]; }
}

// Σ |x - y|, with d = sign(x - y) / n.
@compute @workgroup_size(256)
fn mae(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    let n = f32(max(p.n, 1u));
    for (var i = wid.x * WG + lid.x; i < p.n; i += p.groups * WG) {
        let e = x[p.ox + i] - y[p.oy + i];
        acc += abs(e);
        d[p.od + i] = sign(e) / n;
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.op + wid.x] = red[0]; }
}

// Σ x (the per-row losses of softmax cross-entropy).
@compute @workgroup_size(256)
fn sum(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var i = wid.x * WG + lid.x; i < p.n; i += p.groups * WG) {
        acc += x[p.ox + i];
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.op + wid.x] = red[0]; }
}

// part[out] = Σ_g part[op + g], one workgroup.
@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_id) lid: vec3<u32>) {
    var acc = 0.0;
    for (var g = lid.x; g < p.groups; g += WG) {
        acc += part[p.op + g];
    }
    reduce_group(lid.x, acc);
    if (lid.x == 0u) { part[p.out] = red[0]; }
}

// d[od] = 0 if part[out] (a count of non-finite values) is 0, else NaN:
// a verdict that is finite exactly when the values were. One thread.
@compute @workgroup_size(1)
fn flag() {
    d[p.od] = select(0.0, bitcast<f32>(0x7fc00000u), part[p.out] > 0.0);
}
