// Dropout masks from the counter-based generator of `backend/random.rs`
// (the same bits as the CPU's): value i is 0 where its 24 random bits fall
// below `threshold`, else `keep`.

struct P {
    n: u32,
    oc: u32,
    key_lo: u32,
    key_hi: u32,
    threshold: u32,
    keep: f32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(256)
fn dropout_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        let bits = bits24(p.key_lo, p.key_hi, i);
        c[p.oc + i] = select(p.keep, 0.0, bits < p.threshold);
    }
}
