//! The wgpu device behind [`super::Gpu`]: adapters, the command recorder
//! that batches every kernel of an iteration into one submission, compiled
//! pipelines, host transfers and the counters `recur bench` reports.
//!
//! Kernels are recorded, never waited on: each is one compute dispatch in
//! the current command encoder, its small parameter block written into a
//! uniform arena. The encoder is submitted when the host needs a value back
//! (a download, a loss) or when it has grown long; uploads are copies
//! recorded in the same encoder, so they happen in program order.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Bytes of one dispatch's parameter block (a multiple of every adapter's
/// uniform offset alignment, which is at most 256).
const PARAM_SLOT: usize = 256;
/// Parameter blocks per arena chunk (one uniform buffer of 64 KiB).
const SLOTS_PER_CHUNK: usize = 256;
/// Dispatches recorded before the encoder is submitted without waiting,
/// so that a long run of kernels never holds unbounded host memory.
const FLUSH_AFTER: usize = 4096;
/// Threads per workgroup of the one-dimensional kernels.
pub(super) const WORKGROUP: u32 = 256;
/// The most workgroups along one dimension of a dispatch (WebGPU's limit).
const MAX_GROUPS: u32 = 65_535;

/// One GPU adapter as wgpu reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Position in [`super::Gpu::adapters`], as `--gpu N` takes it.
    pub index: usize,
    /// The adapter's name ("NVIDIA H100", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// The graphics API wgpu reaches it through ("vulkan", "metal", ...).
    pub backend: String,
    /// Discrete, integrated, virtual, CPU (a software driver) or other.
    pub device_type: String,
}

/// What the recorder did since the counters were last taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Times the host waited for the device to hand values back.
    pub round_trips: u64,
    /// Host-to-device copies (uploads, staged inputs, token ids).
    pub uploads: u64,
    /// Command-buffer submissions.
    pub submissions: u64,
}

/// The instance's adapters, in wgpu's order.
pub(super) fn adapters() -> Vec<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

/// `adapter` described for people.
pub(super) fn summary(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let device_type = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "CPU (software)",
        wgpu::DeviceType::Other => "other",
    };
    AdapterSummary {
        index,
        name: info.name,
        backend: info.backend.to_str().to_string(),
        device_type: device_type.to_string(),
    }
}

/// The adapter `--device gpu` takes among `all`: a discrete GPU first, then
/// an integrated one, then anything else (a software driver last but one,
/// "other" last).
pub(super) fn preferred(all: &[wgpu::Adapter]) -> Option<usize> {
    let rank = |a: &wgpu::Adapter| match a.get_info().device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    (0..all.len()).min_by_key(|&i| rank(&all[i]))
}

/// A compute kernel: its WGSL module (without the shared prelude) and entry
/// point, and how many storage buffers it binds after its parameter block.
#[derive(Debug)]
pub(super) struct Kernel {
    /// The module's name: with the entry point, the kernel's identity in
    /// the pipeline cache.
    pub module: &'static str,
    /// The module's source.
    pub source: &'static str,
    /// The entry point.
    pub entry: &'static str,
    /// Storage bindings `1..=buffers` (binding 0 is the parameter block).
    pub buffers: u32,
}

/// A storage buffer argument of a dispatch: `None` for an empty view (the
/// kernel reads nothing from it; a placeholder is bound).
pub(super) type Arg<'a> = Option<&'a wgpu::Buffer>;

/// How many workgroups a dispatch runs.
#[derive(Clone, Copy, Debug)]
pub(super) enum Grid {
    /// `n` threads of [`WORKGROUP`] per group, folded into two dimensions
    /// (the shader recovers the index with `linear_id`).
    Threads(usize),
    /// One workgroup per item, folded the same way (`group_id`).
    Groups(usize),
    /// Explicit workgroup counts (x, y).
    Tiles(u32, u32),
}

/// The recording state: the open encoder and this submission's parameters.
struct Recorder {
    /// The compute pass dispatches go into, open until a copy needs the
    /// encoder (dispatches in one pass are still ordered: wgpu puts a
    /// barrier between two that touch the same buffer).
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    /// Parameter blocks of the dispatches recorded since the last submission.
    params: Vec<u8>,
    /// Uniform buffers holding `params` at submission, reused across them.
    chunks: Vec<wgpu::Buffer>,
    counters: Counters,
}

/// One opened device and everything recorded on it.
pub(super) struct Context {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: AdapterSummary,
    limits: wgpu::Limits,
    recorder: Mutex<Recorder>,
    pipelines: Mutex<HashMap<(&'static str, &'static str), Arc<wgpu::ComputePipeline>>>,
    layouts: Mutex<HashMap<u32, Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)>>>,
    /// Bound where a kernel's view is empty.
    placeholder: wgpu::Buffer,
    /// Why a buffer could not be made, if one could not.
    failed: Mutex<Option<String>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }
}

/// Usage of every data buffer: read and written by kernels, copied both ways.
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Context {
    /// Open adapter `index` (of [`adapters`]), or the preferred one.
    pub fn open(index: Option<usize>) -> Result<Context> {
        let all = adapters();
        let none = || {
            Error::Device(
                "no GPU adapter found: wgpu sees no Vulkan, Metal or DX12 device. Install your \
                 GPU's Vulkan driver (on Debian or Ubuntu without a GPU, `apt-get install \
                 mesa-vulkan-drivers` gives a software one), run `recur devices` to check, or \
                 use --device cpu"
                    .into(),
            )
        };
        if all.is_empty() {
            return Err(none());
        }
        let index = match index {
            Some(i) if i < all.len() => i,
            Some(i) => {
                return Err(Error::Device(format!(
                    "there is no GPU adapter {i}: wgpu sees {} (0 to {}); run `recur devices` \
                     to list them",
                    all.len(),
                    all.len() - 1
                )));
            }
            None => preferred(&all).ok_or_else(none)?,
        };
        let adapter = &all[index];
        let info = summary(index, adapter);
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("recur"),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            Error::Device(format!(
                "could not open GPU adapter {index} ({}): {e}",
                info.name
            ))
        })?;
        let placeholder = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("placeholder"),
            size: 16,
            usage: STORAGE,
            mapped_at_creation: false,
        });
        Ok(Context {
            device,
            queue,
            info,
            limits,
            recorder: Mutex::new(Recorder {
                pass: None,
                encoder: None,
                params: Vec::new(),
                chunks: Vec::new(),
                counters: Counters::default(),
            }),
            pipelines: Mutex::default(),
            layouts: Mutex::default(),
            placeholder,
            failed: Mutex::default(),
        })
    }

    /// The adapter this context runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.info
    }

    /// The counters since the last call, reset.
    pub fn take_counters(&self) -> Counters {
        std::mem::take(&mut self.lock().counters)
    }

    fn lock(&self) -> MutexGuard<'_, Recorder> {
        // A panic while recording leaves nothing half-done that matters.
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A zeroed data buffer of `len` f32 values. More than the adapter
    /// can bind in one buffer is not an allocation: the context records
    /// the failure (see [`Context::check`]), returns a placeholder and does
    /// nothing more until the failure is reported.
    pub fn buffer(&self, len: usize) -> wgpu::Buffer {
        let bytes = (len.max(1) as u64).saturating_mul(4);
        let max = self.max_buffer_len() as u64 * 4;
        let size = if bytes <= max {
            bytes
        } else {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            failed.get_or_insert_with(|| {
                format!(
                    "the model needs a buffer of {len} values ({} MB) on the GPU, and {} holds at most {} MB in one buffer: lower --batch, --seq-len, --hidden or --layers, or use --device cpu",
                    bytes / 1_000_000,
                    self.info.name,
                    max / 1_000_000
                )
            });
            16
        };
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage: STORAGE,
            mapped_at_creation: false,
        })
    }

    /// The most f32 values one buffer can hold on this adapter.
    pub fn max_buffer_len(&self) -> usize {
        let max = self
            .limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size);
        (max / 4) as usize
    }

    /// An error if a buffer could not be made since the context opened;
    /// after one, every transfer and kernel is skipped.
    pub fn check(&self) -> Result<()> {
        match &*self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(message) => Err(Error::Device(message.clone())),
            None => Ok(()),
        }
    }

    /// Whether a buffer could not be made (everything is skipped then).
    fn broken(&self) -> bool {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// A buffer holding `data`, uploaded in program order (a copy recorded
    /// in the encoder from a host-written staging buffer).
    pub fn upload_bytes(&self, data: &[u8], dst: &wgpu::Buffer, dst_offset: u64) {
        if data.is_empty() || self.broken() {
            return;
        }
        let size = data.len().next_multiple_of(4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("upload"),
            size,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        {
            let slice = staging.slice(..data.len() as u64);
            let mut view = slice
                .get_mapped_range_mut()
                .expect("a buffer mapped at creation");
            view.copy_from_slice(data);
        }
        staging.unmap();
        let mut rec = self.lock();
        rec.counters.uploads += 1;
        let encoder = self.encoder(&mut rec);
        encoder.copy_buffer_to_buffer(&staging, 0, dst, dst_offset, Some(data.len() as u64));
    }

    /// A fresh buffer holding host `u32`s (token ids, lengths, targets) for
    /// the next kernels.
    pub fn upload_u32(&self, host: &[u32]) -> wgpu::Buffer {
        let buf = self.buffer(host.len());
        self.upload_bytes(bytemuck::cast_slice(host), &buf, 0);
        buf
    }

    /// `bytes` bytes of `src` from `offset`, copied back to the host after
    /// everything recorded so far has run.
    pub fn download_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Vec<u8> {
        if bytes == 0 {
            return Vec::new();
        }
        if self.broken() {
            // Zeros: the caller's next check reports the failure.
            return vec![0; bytes as usize];
        }
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut rec = self.lock();
            rec.counters.round_trips += 1;
            let encoder = self.encoder(&mut rec);
            encoder.copy_buffer_to_buffer(src, offset, &readback, 0, Some(bytes));
            self.submit(&mut rec);
        }
        let slice = readback.slice(..);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap_or_else(|e| panic!("the GPU ({}) stopped responding: {e}", self.info.name));
        rx.recv()
            .expect("the map callback ran")
            .unwrap_or_else(|e| {
                panic!("could not read back from the GPU ({}): {e}", self.info.name)
            });
        let out = slice.get_mapped_range().expect("a mapped buffer").to_vec();
        readback.unmap();
        out
    }

    /// Record `dst[dst_off..] = src[src_off..]` for `bytes` bytes.
    pub fn copy(
        &self,
        src: &wgpu::Buffer,
        src_off: u64,
        dst: &wgpu::Buffer,
        dst_off: u64,
        bytes: u64,
    ) {
        if bytes == 0 || self.broken() {
            return;
        }
        let mut rec = self.lock();
        let encoder = self.encoder(&mut rec);
        encoder.copy_buffer_to_buffer(src, src_off, dst, dst_off, Some(bytes));
    }

    /// The encoder, for a copy: the open compute pass (if any) ends first.
    fn encoder<'r>(&self, rec: &'r mut Recorder) -> &'r mut wgpu::CommandEncoder {
        rec.pass = None;
        rec.encoder
            .get_or_insert_with(|| self.device.create_command_encoder(&Default::default()))
    }

    /// Submit everything recorded (without waiting for it).
    fn submit(&self, rec: &mut Recorder) {
        rec.pass = None;
        let Some(encoder) = rec.encoder.take() else {
            return;
        };
        let chunk = PARAM_SLOT * SLOTS_PER_CHUNK;
        for (c, data) in rec.params.chunks(chunk).enumerate() {
            self.queue.write_buffer(&rec.chunks[c], 0, data);
        }
        rec.params.clear();
        self.queue.submit([encoder.finish()]);
        rec.counters.submissions += 1;
    }

    /// The bind-group and pipeline layouts of kernels with `buffers`
    /// storage bindings.
    fn layout(&self, buffers: u32) -> Arc<(wgpu::BindGroupLayout, wgpu::PipelineLayout)> {
        let mut layouts = self.layouts.lock().unwrap_or_else(|e| e.into_inner());
        layouts
            .entry(buffers)
            .or_insert_with(|| {
                let entry = |binding, ty| wgpu::BindGroupLayoutEntry {
                    binding,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                };
                let storage = wgpu::BufferBindingType::Storage { read_only: false };
                let entries: Vec<_> = std::iter::once(entry(0, wgpu::BufferBindingType::Uniform))
                    .chain((1..=buffers).map(|b| entry(b, storage)))
                    .collect();
                let group =
                    self.device
                        .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                            label: None,
                            entries: &entries,
                        });
                let pipeline =
                    self.device
                        .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                            label: None,
                            bind_group_layouts: &[Some(&group)],
                            immediate_size: 0,
                        });
                Arc::new((group, pipeline))
            })
            .clone()
    }

    fn pipeline(&self, kernel: &Kernel) -> Arc<wgpu::ComputePipeline> {
        let key = (kernel.module, kernel.entry);
        if let Some(p) = self
            .pipelines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return p.clone();
        }
        let layout = self.layout(kernel.buffers);
        let source = format!("{}\n{}", super::shaders::PRELUDE, kernel.source);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(kernel.entry),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = Arc::new(self.device.create_compute_pipeline(
            &wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry),
                layout: Some(&layout.1),
                module: &module,
                entry_point: Some(kernel.entry),
                compilation_options: Default::default(),
                cache: None,
            },
        ));
        let mut pipelines = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        pipelines.insert(key, pipeline.clone());
        pipeline
    }

    /// Record one dispatch of `kernel` with parameter words `params` (at
    /// most 64) and storage buffers `args`.
    pub fn dispatch(&self, kernel: &Kernel, params: &[u32], args: &[Arg<'_>], grid: Grid) {
        if self.broken() {
            return;
        }
        assert_eq!(
            args.len(),
            kernel.buffers as usize,
            "{}: buffers",
            kernel.entry
        );
        assert!(
            params.len() * 4 <= PARAM_SLOT,
            "{}: parameters",
            kernel.entry
        );
        let (x, y) = match grid {
            Grid::Threads(n) => fold(n.div_ceil(WORKGROUP as usize)),
            Grid::Groups(n) => fold(n),
            Grid::Tiles(x, y) => (x, y),
        };
        if x == 0 || y == 0 {
            return;
        }
        let pipeline = self.pipeline(kernel);
        let layout = self.layout(kernel.buffers);
        let mut rec = self.lock();
        let slot = rec.params.len() / PARAM_SLOT;
        let chunk = slot / SLOTS_PER_CHUNK;
        while rec.chunks.len() <= chunk {
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("params"),
                size: (PARAM_SLOT * SLOTS_PER_CHUNK) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            rec.chunks.push(buf);
        }
        let mut block = [0u8; PARAM_SLOT];
        block[..params.len() * 4].copy_from_slice(bytemuck::cast_slice(params));
        rec.params.extend_from_slice(&block);
        let offset = ((slot % SLOTS_PER_CHUNK) * PARAM_SLOT) as u64;
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &rec.chunks[chunk],
                offset,
                size: wgpu::BufferSize::new(PARAM_SLOT as u64),
            }),
        }];
        for (i, arg) in args.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: arg.unwrap_or(&self.placeholder).as_entire_binding(),
            });
        }
        let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout.0,
            entries: &entries,
        });
        rec.counters.dispatches += 1;
        if rec.pass.is_none() {
            let pass = self
                .encoder(&mut rec)
                .begin_compute_pass(&Default::default());
            rec.pass = Some(pass.forget_lifetime());
        }
        let pass = rec.pass.as_mut().expect("opened above");
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(x, y, 1);
        if rec.params.len() / PARAM_SLOT >= FLUSH_AFTER {
            self.submit(&mut rec);
        }
    }
}

/// `n` workgroups as (x, y) with x within the per-dimension limit.
fn fold(n: usize) -> (u32, u32) {
    if n == 0 {
        return (0, 0);
    }
    let x = n.min(MAX_GROUPS as usize);
    (x as u32, n.div_ceil(x) as u32)
}
