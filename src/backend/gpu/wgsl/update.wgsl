// Optimizer updates, one thread per parameter (see `Update` on the host):
// p the parameters, g the gradients, m0 and m1 the moments.

struct P {
    n: u32,
    op: u32,
    og: u32,
    o0: u32,
    o1: u32,
    // 0 SGD, 1 momentum, 2 Adagrad, 3 RMSprop, 4 Adam.
    rule: u32,
    // lr (Adam: step), then mu / a / b1, b2, corr2.
    f0: f32,
    f1: f32,
    f2: f32,
    f3: f32,
    eps: f32,
    // 1: update only where guard[og] is finite (the gradients' verdict).
    guarded: u32,
    og_guard: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> m0: array<f32>;
@group(0) @binding(4) var<storage, read_write> m1: array<f32>;
@group(0) @binding(5) var<storage, read_write> guard: array<f32>;

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n || (p.guarded == 1u && !finite(guard[p.og_guard]))) { return; }
    let gi = g[p.og + i];
    let pi = p.op + i;
    switch p.rule {
        case 0u: {
            w[pi] -= p.f0 * gi;
        }
        case 1u: {
            let v = p.f1 * m0[p.o0 + i] + gi;
            m0[p.o0 + i] = v;
            w[pi] -= p.f0 * v;
        }
        case 2u: {
            let m = m0[p.o0 + i] + gi * gi;
            m0[p.o0 + i] = m;
            w[pi] -= p.f0 * gi / (sqrt(m) + p.eps);
        }
        case 3u: {
            let s = p.f1 * m0[p.o0 + i] + (1.0 - p.f1) * gi * gi;
            m0[p.o0 + i] = s;
            w[pi] -= p.f0 * gi / (sqrt(s) + p.eps);
        }
        default: {
            let m = p.f1 * m0[p.o0 + i] + (1.0 - p.f1) * gi;
            let v = p.f2 * m1[p.o1 + i] + (1.0 - p.f2) * gi * gi;
            m0[p.o0 + i] = m;
            m1[p.o1 + i] = v;
            w[pi] -= p.f0 * m / (sqrt(v) / p.f3 + p.eps);
        }
    }
}
