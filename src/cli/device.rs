//! `--device cpu|gpu` and `--gpu N` (shared by the commands that run a
//! model), and `recur devices`, which lists the GPU adapters.

use std::process::ExitCode;

use clap::Args;

use recur::{Error, Result};

/// Where a command runs its model.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where the model runs: cpu, or gpu (through wgpu: Vulkan, Metal or
    /// DX12; `recur devices` lists what it finds). Checkpoints are the same
    /// files on either.
    #[arg(long, value_parser = ["cpu", "gpu"], default_value = "cpu")]
    device: String,
    /// The GPU adapter --device gpu takes, by its number in `recur devices`
    /// [default: a discrete GPU, else an integrated one, else any].
    #[arg(long, allow_hyphen_values = true)]
    gpu: Option<usize>,
}

/// An opened device.
pub enum Device {
    /// The CPU backend.
    Cpu,
    /// A GPU adapter, opened.
    #[cfg(feature = "gpu")]
    Gpu(recur::backend::Gpu),
}

impl DeviceArgs {
    /// Whether the flags ask for a GPU (`--device gpu`), before opening it:
    /// a command with a CPU-only mode refuses it up front.
    pub fn is_gpu(&self) -> bool {
        self.device == "gpu"
    }

    /// Open the device the flags name: a clear error where `--device gpu`
    /// finds no adapter or this build has no GPU support.
    pub fn open(&self) -> Result<Device> {
        match (self.device.as_str(), self.gpu) {
            ("cpu", Some(_)) => Err(Error::Config(
                "--gpu picks the adapter of --device gpu; add --device gpu, or drop --gpu".into(),
            )),
            ("cpu", None) => Ok(Device::Cpu),
            #[cfg(feature = "gpu")]
            (_, index) => {
                let gpu = recur::backend::Gpu::open(index)?;
                let a = gpu.adapter();
                eprintln!("on the GPU: {} ({}, {})", a.name, a.backend, a.device_type);
                Ok(Device::Gpu(gpu))
            }
            #[cfg(not(feature = "gpu"))]
            _ => Err(Error::Config(
                "this recur was built without GPU support: rebuild with the cargo feature `gpu` (on by default), or use --device cpu".into(),
            )),
        }
    }
}

/// Run `$body` with `$k` bound to the backend of `$device` (a [`Device`]):
/// the body is compiled once per backend.
macro_rules! on_device {
    ($device:expr, $k:ident => $body:expr) => {
        match $device {
            $crate::cli::device::Device::Cpu => {
                let $k = recur::Cpu;
                $body
            }
            #[cfg(feature = "gpu")]
            $crate::cli::device::Device::Gpu(gpu) => {
                let $k = gpu;
                $body
            }
        }
    };
}
pub(crate) use on_device;

/// `recur devices`: the GPU adapters wgpu sees, and which `--device gpu`
/// takes.
pub fn list() -> Result<ExitCode> {
    #[cfg(feature = "gpu")]
    {
        use recur::backend::Gpu;
        let all = Gpu::adapters();
        if all.is_empty() {
            println!(
                "wgpu sees no GPU adapter (Vulkan, Metal or DX12): --device gpu cannot run here. Install your GPU's Vulkan driver (on Debian or Ubuntu without a GPU, `apt-get install mesa-vulkan-drivers` gives a software one); --device cpu always works"
            );
            return Ok(ExitCode::SUCCESS);
        }
        let chosen = Gpu::preferred_adapter();
        println!("GPU adapters (--device gpu takes the one marked *; --gpu N picks another):");
        for a in &all {
            let mark = if Some(a.index) == chosen { '*' } else { ' ' };
            println!(
                "{mark} {}  {}  ({}, {})",
                a.index, a.name, a.backend, a.device_type
            );
        }
        Ok(ExitCode::SUCCESS)
    }
    #[cfg(not(feature = "gpu"))]
    {
        println!(
            "this recur was built without GPU support (the cargo feature `gpu`): only --device cpu"
        );
        Ok(ExitCode::SUCCESS)
    }
}
