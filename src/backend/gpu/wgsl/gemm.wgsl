// c (m×n) = [c or d +] op(a) (m×k) · op(b) (k×n), row-major, in all four
// transpose combinations. Each workgroup of 16×16 threads computes a 64×64
// tile of c, each thread 4×4 values strided by 16 (so neighbouring threads
// touch neighbouring columns); the k dimension is walked in slices of 16
// staged in workgroup memory.

struct P {
    m: u32,
    n: u32,
    k: u32,
    oa: u32,
    ob: u32,
    oc: u32,
    // op(a) = aᵀ (a stored k×m) when 1.
    ta: u32,
    // op(b) = bᵀ (b stored n×k) when 1.
    tb: u32,
    // c = when 0, c += when 1, c = d + when 2.
    acc: u32,
    od: u32,
}

@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> d: array<f32>;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;

// The k-slice of op(a) as [BK][BM] and of op(b) as [BK][BN].
var<workgroup> sa: array<f32, 1024>;
var<workgroup> sb: array<f32, 1024>;

// op(a)[i, l], 0 outside.
fn load_a(i: u32, l: u32) -> f32 {
    if (i >= p.m || l >= p.k) { return 0.0; }
    if (p.ta == 0u) { return a[p.oa + i * p.k + l]; }
    return a[p.oa + l * p.m + i];
}

// op(b)[l, j], 0 outside.
fn load_b(l: u32, j: u32) -> f32 {
    if (l >= p.k || j >= p.n) { return 0.0; }
    if (p.tb == 0u) { return b[p.ob + l * p.n + j]; }
    return b[p.ob + j * p.k + l];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let tid = ty * 16u + tx;
    let row0 = wid.y * BM;
    let col0 = wid.x * BN;
    var acc: array<f32, 16>;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        // 1024 values of each slice, 4 per thread, read along the stored
        // rows so that neighbouring threads read neighbouring addresses.
        for (var q = 0u; q < 4u; q++) {
            let e = tid + q * 256u;
            var i: u32;
            var l: u32;
            if (p.ta == 0u) { i = e / BK; l = e % BK; } else { l = e / BM; i = e % BM; }
            sa[l * BM + i] = load_a(row0 + i, k0 + l);
            var lb: u32;
            var j: u32;
            if (p.tb == 0u) { lb = e / BN; j = e % BN; } else { j = e / BK; lb = e % BK; }
            sb[lb * BN + j] = load_b(k0 + lb, col0 + j);
        }
        workgroupBarrier();
        for (var l = 0u; l < BK; l++) {
            var av: array<f32, 4>;
            var bv: array<f32, 4>;
            for (var r = 0u; r < 4u; r++) {
                av[r] = sa[l * BM + ty + 16u * r];
                bv[r] = sb[l * BN + tx + 16u * r];
            }
            for (var r = 0u; r < 4u; r++) {
                for (var s = 0u; s < 4u; s++) {
                    acc[r * 4u + s] = fma(av[r], bv[s], acc[r * 4u + s]);
                }
            }
        }
        workgroupBarrier();
    }
    for (var r = 0u; r < 4u; r++) {
        for (var s = 0u; s < 4u; s++) {
            let i = row0 + ty + 16u * r;
            let j = col0 + tx + 16u * s;
            if (i < p.m && j < p.n) {
                let at = p.oc + i * p.n + j;
                var v = acc[r * 4u + s];
                if (p.acc == 1u) { v += c[at]; }
                if (p.acc == 2u) { v += d[p.od + i * p.n + j]; }
                c[at] = v;
            }
        }
    }
}
