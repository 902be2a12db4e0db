//! [`RowKernel`]s on the GPU: a cell's WGSL function `unit(r, j)` (unit `j`
//! of row `r`, written in the cell's own file) wrapped into a module with
//! its bindings and accessors, one thread per unit.
//!
//! Inputs are `in0 .. in{N-1}`, outputs `out0 .. out{M-1}`: `ink(r, i)`
//! reads value `i` of row `r`, `outk(r, i)` and `set_outk(r, i, v)` read
//! and write; `units()` is the number of units per row.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use super::context::Kernel;
use crate::backend::RowKernel;

/// The kernel for row kernel type `R`, its module generated once.
pub(super) fn kernel<R: RowKernel<f32, N, M>, const N: usize, const M: usize>() -> Kernel {
    static SOURCES: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let name = std::any::type_name::<R>();
    let mut sources = SOURCES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // Leaked once per row-kernel type (a handful per program).
    let source = *sources
        .entry(name)
        .or_insert_with(|| Box::leak(module(R::WGSL, N, M).into_boxed_str()));
    Kernel {
        module: name,
        source,
        entry: "rows",
        buffers: (N + M) as u32,
    }
}

/// The most buffers a row kernel may have (the parameter block's room).
pub(super) const MAX_BUFFERS: usize = 8;

/// The module around `body` for `n` inputs and `m` outputs. Parameter
/// words: rows, units, 2 unused, then the offsets and row strides of the
/// buffers (8 each).
fn module(body: &str, n: usize, m: usize) -> String {
    assert!(
        n + m <= MAX_BUFFERS,
        "a row kernel binds at most {MAX_BUFFERS} buffers"
    );
    let mut s = String::from(
        "struct P {\n    rows: u32,\n    units: u32,\n    o: array<vec4<u32>, 2>,\n    s: array<vec4<u32>, 2>,\n}\n\
         @group(0) @binding(0) var<uniform> p: P;\n\
         fn units() -> u32 { return p.units; }\n",
    );
    for b in 0..n + m {
        let _ = writeln!(
            s,
            "@group(0) @binding({}) var<storage, read_write> b{b}: array<f32>;",
            b + 1
        );
    }
    let at = |b: usize| {
        format!(
            "p.o[{}][{}] + r * p.s[{}][{}] + i",
            b / 4,
            b % 4,
            b / 4,
            b % 4
        )
    };
    for k in 0..n {
        let _ = writeln!(
            s,
            "fn in{k}(r: u32, i: u32) -> f32 {{ return b{k}[{}]; }}",
            at(k)
        );
    }
    for k in 0..m {
        let b = n + k;
        let _ = writeln!(
            s,
            "fn out{k}(r: u32, i: u32) -> f32 {{ return b{b}[{}]; }}",
            at(b)
        );
        let _ = writeln!(
            s,
            "fn set_out{k}(r: u32, i: u32, v: f32) {{ b{b}[{}] = v; }}",
            at(b)
        );
    }
    s.push_str(body);
    s.push_str(
        "\n@compute @workgroup_size(256)\n\
         fn rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, \
         @builtin(local_invocation_id) lid: vec3<u32>) {\n\
         \x20   let i = linear_id(wid, nwg, lid);\n\
         \x20   if (i < p.rows * p.units) { unit(i / p.units, i % p.units); }\n}\n",
    );
    s
}
