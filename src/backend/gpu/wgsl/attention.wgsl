// Bahdanau's additive scores and their backward. q: (T, A), u: (S, A),
// v: (A), z: (T, S, A), e / de: (T, S).

struct P {
    t: u32,
    s: u32,
    a: u32,
    // Offsets of b1..b6. Forward: q, u, v, z, e. Backward: z, v, de, dv,
    // dq, du.
    o1: u32,
    o2: u32,
    o3: u32,
    o4: u32,
    o5: u32,
    o6: u32,
}

@group(0) @binding(0) var<uniform> p: P;
// Forward: q, u, v, z, e. Backward: z, v, de, dv, dq, du.
@group(0) @binding(1) var<storage, read_write> b1: array<f32>;
@group(0) @binding(2) var<storage, read_write> b2: array<f32>;
@group(0) @binding(3) var<storage, read_write> b3: array<f32>;
@group(0) @binding(4) var<storage, read_write> b4: array<f32>;
@group(0) @binding(5) var<storage, read_write> b5: array<f32>;
@group(0) @binding(6) var<storage, read_write> b6: array<f32>;

// One thread per (t, s): z[t, s, :] = tanh(q[t, :] + u[s, :]), e[t, s] = z·v.
@compute @workgroup_size(256)
fn scores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.t * p.s) { return; }
    let t = i / p.s;
    let s = i % p.s;
    var e = 0.0;
    for (var j = 0u; j < p.a; j++) {
        let z = tanh_(b1[p.o1 + t * p.a + j] + b2[p.o2 + s * p.a + j]);
        b4[p.o4 + i * p.a + j] = z;
        e += z * b3[p.o3 + j];
    }
    b5[p.o5 + i] = e;
}

// dv[j] += Σ_{t,s} de·z (pairs with de = 0 skipped). One thread per j.
@compute @workgroup_size(256)
fn backward_v(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let j = linear_id(wid, nwg, lid);
    if (j >= p.a) { return; }
    var acc = b4[p.o4 + j];
    for (var i = 0u; i < p.t * p.s; i++) {
        let de = b3[p.o3 + i];
        if (de != 0.0) { acc += de * b1[p.o1 + i * p.a + j]; }
    }
    b4[p.o4 + j] = acc;
}

// dq[t, j] = Σ_s de·v_j·(1 - z²). One thread per (t, j).
@compute @workgroup_size(256)
fn backward_q(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.t * p.a) { return; }
    let t = i / p.a;
    let j = i % p.a;
    var acc = 0.0;
    for (var s = 0u; s < p.s; s++) {
        let de = b3[p.o3 + t * p.s + s];
        let z = b1[p.o1 + (t * p.s + s) * p.a + j];
        if (de != 0.0) { acc += de * b2[p.o2 + j] * (1.0 - z * z); }
    }
    b5[p.o5 + i] = acc;
}

// du[s, j] = Σ_t de·v_j·(1 - z²). One thread per (s, j).
@compute @workgroup_size(256)
fn backward_u(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.s * p.a) { return; }
    let s = i / p.a;
    let j = i % p.a;
    var acc = 0.0;
    for (var t = 0u; t < p.t; t++) {
        let de = b3[p.o3 + t * p.s + s];
        let z = b1[p.o1 + (t * p.s + s) * p.a + j];
        if (de != 0.0) { acc += de * b2[p.o2 + j] * (1.0 - z * z); }
    }
    b6[p.o6 + i] = acc;
}
