// Kernels driven by host indices (token ids, sequence lengths) uploaded as
// u32s into `idx`: gathers for one-hot and embedding input, their
// scatter-adds, and padding rows. `a` is read, `c` written.
//
// The scatter-adds are deterministic without atomics: the host groups the
// rows by token (`idx` = [tokens (U)] [starts (U+1)] [rows (R)]), and one
// thread per (token, column) adds that token's rows in row order.

struct P {
    // Threads.
    n: u32,
    oa: u32,
    oc: u32,
    // Row length (D of a table, H of a projection, N of a padded buffer).
    width: u32,
    // V: columns of the one-hot weight.
    v: u32,
    // Distinct tokens U (scatters); the step s (padding).
    u: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;

// c[r, j] = a[idx[r], j]; a: (V, width).
@compute @workgroup_size(256)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let r = i / p.width;
        let j = i % p.width;
        c[p.oc + i] = a[p.oa + idx[r] * p.width + j];
    }
}

// c[r, j] = a[j, idx[r]]; a: (width, V).
@compute @workgroup_size(256)
fn gather_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let r = i / p.width;
        let j = i % p.width;
        c[p.oc + i] = a[p.oa + j * p.v + idx[r]];
    }
}

// c[tok, j] += a[r, j] for the rows r of each token; n = U × width.
@compute @workgroup_size(256)
fn scatter_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let t = i / p.width;
        let j = i % p.width;
        let at = p.oc + idx[t] * p.width + j;
        var acc = c[at];
        for (var q = idx[p.u + t]; q < idx[p.u + t + 1u]; q++) {
            acc += a[p.oa + idx[2u * p.u + 1u + q] * p.width + j];
        }
        c[at] = acc;
    }
}

// c[j, tok] += a[r, j] for the rows r of each token; c: (width, V).
@compute @workgroup_size(256)
fn scatter_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let t = i / p.width;
        let j = i % p.width;
        let at = p.oc + j * p.v + idx[t];
        var acc = c[at];
        for (var q = idx[p.u + t]; q < idx[p.u + t + 1u]; q++) {
            acc += a[p.oa + idx[2u * p.u + 1u + q] * p.width + j];
        }
        c[at] = acc;
    }
}

// Rows r with idx[r] (its length) <= s, the step in `u`: c = a.
@compute @workgroup_size(256)
fn set_padded(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n && idx[i / p.width] <= p.u) { c[p.oc + i] = a[p.oa + i]; }
}

// The same rows set to 0.
@compute @workgroup_size(256)
fn zero_padded(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n && idx[i / p.width] <= p.u) { c[p.oc + i] = 0.0; }
}

// The same rows: c += a.
@compute @workgroup_size(256)
fn add_padded(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n && idx[i / p.width] <= p.u) { c[p.oc + i] += a[p.oa + i]; }
}
