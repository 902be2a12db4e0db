// Copies and elementwise kernels over views: `a`, `b` read, `c` written,
// each from its offset. `n` values (or `n` = rows × width for blocks).

struct P {
    n: u32,
    oa: u32,
    ob: u32,
    oc: u32,
    // A scalar argument (fill value, scale, clamp bound).
    f: f32,
    // A second scalar (the clamp's upper bound).
    g: f32,
    // Row length: of the bias (add_bias, set_rows), of the block (copy_block).
    width: u32,
    // Row strides of `a` and `c` (copy_block); rows (sum_rows).
    sa: u32,
    sc: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = a[p.oa + i]; }
}

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = p.f; }
}

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] += a[p.oa + i]; }
}

@compute @workgroup_size(256)
fn mul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] *= a[p.oa + i]; }
}

@compute @workgroup_size(256)
fn mul_into(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = a[p.oa + i] * b[p.ob + i]; }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] *= p.f; }
}

@compute @workgroup_size(256)
fn clamp_(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = min(max(c[p.oc + i], p.f), p.g); }
}

@compute @workgroup_size(256)
fn tanh_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = tanh_(c[p.oc + i]); }
}

@compute @workgroup_size(256)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = max(c[p.oc + i], 0.0); }
}

// d *= 1 - y² (y = tanh's output in `a`).
@compute @workgroup_size(256)
fn tanh_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let y = a[p.oa + i];
        c[p.oc + i] *= 1.0 - y * y;
    }
}

// d = 0 where relu's output y <= 0.
@compute @workgroup_size(256)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n && a[p.oa + i] <= 0.0) { c[p.oc + i] = 0.0; }
}

// c[r, j] += a[j] over rows of `width`.
@compute @workgroup_size(256)
fn add_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] += a[p.oa + i % p.width]; }
}

// c[r, j] = a[j] over rows of `width`.
@compute @workgroup_size(256)
fn set_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) { c[p.oc + i] = a[p.oa + i % p.width]; }
}

// c[r·sc + j] = a[r·sa + j] for j < width, n = rows × width.
@compute @workgroup_size(256)
fn copy_block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let r = i / p.width;
        let j = i % p.width;
        c[p.oc + r * p.sc + j] = a[p.oa + r * p.sa + j];
    }
}

// c[r·sc + j] += a[r·sa + j] for j < width, n = rows × width.
@compute @workgroup_size(256)
fn add_block(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let r = i / p.width;
        let j = i % p.width;
        c[p.oc + r * p.sc + j] += a[p.oa + r * p.sa + j];
    }
}

// c[j] += Σ_r a[r·width + j] over `sa` rows, in row order; n = width.
@compute @workgroup_size(256)
fn sum_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = linear_id(wid, nwg, lid);
    if (j < p.n) {
        var acc = c[p.oc + j];
        for (var r = 0u; r < p.sa; r++) {
            acc += a[p.oa + r * p.n + j];
        }
        c[p.oc + j] = acc;
    }
}

// Global-norm clipping from the sum of squares in a[oa]: with n its root,
// c *= f / (n + 1e-6) where n > f.
@compute @workgroup_size(256)
fn scale_to_norm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    let n = sqrt(a[p.oa]);
    if (i < p.n && n > p.f) { c[p.oc + i] *= p.f / (n + 1e-6); }
}
