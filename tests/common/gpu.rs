//! The GPU for tests (include with `#[path = "common/gpu.rs"] mod gpu;`):
//! where wgpu finds no adapter, a GPU test skips with a message, except
//! where `CI` is set: there it fails (CI installs Mesa's software Vulkan
//! driver, so a missing adapter is a broken set-up, not a reason to skip).

#![allow(dead_code)]

use recur::backend::Gpu;

/// The GPU, or `None` (with a message) where there is none and `CI` is unset.
pub fn gpu() -> Option<Gpu> {
    match Gpu::open(None) {
        Ok(gpu) => Some(gpu),
        Err(e) if std::env::var_os("CI").is_some() => {
            panic!("CI is set but there is no GPU adapter (install mesa-vulkan-drivers): {e}")
        }
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}
