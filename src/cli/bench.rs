use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::bench::{self, BenchConfig};
use recur::cell::CellKind;
use recur::tensor::bf16::Precision;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Recurrent cell: rnn, lstm, gru, mingru, minlstm, slstm or mlstm (xLSTM).
    #[arg(long, default_value = "rnn", value_parser = super::cell_kind())]
    model: CellKind,
    /// Stacked layers L.
    #[arg(long, default_value_t = 1, allow_hyphen_values = true)]
    layers: usize,
    /// Hidden size H.
    #[arg(long, default_value_t = 512, allow_hyphen_values = true)]
    hidden: usize,
    /// Batch B.
    #[arg(long, default_value_t = 32, allow_hyphen_values = true)]
    batch: usize,
    /// Sequence length T.
    #[arg(long, default_value_t = 64, allow_hyphen_values = true)]
    seq_len: usize,
    /// Vocabulary size V.
    #[arg(long, default_value_t = 65, allow_hyphen_values = true)]
    vocab: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 50, allow_hyphen_values = true)]
    iters: usize,
    /// Threads (0 = all cores).
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    threads: usize,
    /// The products' operands: f32, or bf16 with f32 sums (see `recur
    /// train --precision`).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    precision: String,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    super::use_threads(Some(a.threads))?;
    let cell = a.model;
    let threads = rayon::current_num_threads();
    let c = BenchConfig {
        cell,
        layers: a.layers,
        hidden: a.hidden,
        batch: a.batch,
        seq_len: a.seq_len,
        vocab: a.vocab,
        iters: a.iters,
        precision: a.precision.parse()?,
    };
    let device = a.device.open()?;
    let (r, on) = match device {
        super::device::Device::Cpu => {
            (bench::train_throughput(&c)?, format!("{threads} thread(s)"))
        }
        #[cfg(feature = "gpu")]
        super::device::Device::Gpu(gpu) => {
            let mut n = Default::default();
            let r = bench::train_throughput_on(gpu.clone(), &c, || n = gpu.take_counters())?;
            let per = |x: u64| x as f64 / c.iters as f64;
            println!(
                "per training iteration on {}: {:.0} kernel dispatches, {:.2} host round trips (losses read back every {} iterations and at the end, as a run that logs that rarely), {:.2} submissions, {:.1} uploads (token ids, targets)",
                gpu.adapter().name,
                per(n.dispatches),
                per(n.round_trips),
                recur::train::DEFER_MAX,
                per(n.submissions),
                per(n.uploads)
            );
            (r, gpu.adapter().name.clone())
        }
    };
    println!(
        "{} {}x{} B={} T={} V={}, {on}{}: {:.0} chars/s, {:.1} GFLOP/s ({:.1} MFLOP of matrix products per iteration)",
        cell.name(),
        c.layers,
        c.hidden,
        c.batch,
        c.seq_len,
        c.vocab,
        match c.precision {
            Precision::F32 => "",
            Precision::Bf16 => ", bf16 products",
        },
        r.chars_per_sec,
        r.gflops,
        r.flop_per_iter / 1e6
    );
    let g = cell.rows(c.hidden);
    println!(
        "GEMM ({}x{})·({}x{}) on this machine now: {:.1} GFLOP/s{}",
        c.seq_len * c.batch,
        c.hidden,
        c.hidden,
        g,
        r.gemm_gflops,
        match c.precision {
            Precision::F32 => format!(
                "; the model runs at {:.0}% of it",
                100.0 * r.gflops / r.gemm_gflops
            ),
            Precision::Bf16 => String::new(),
        }
    );
    if let Some(bf16) = r.gemm_bf16_gflops {
        let how = match recur::tensor::bf16::native() {
            true => "natively: AVX-512 BF16",
            false => "emulated: this CPU has no AVX-512 BF16",
        };
        println!(
            "the same GEMM with bf16 operands and f32 sums ({how}): {bf16:.1} GFLOP/s, {:.2}x f32's{}",
            bf16 / r.gemm_gflops,
            match c.precision {
                Precision::Bf16 =>
                    format!("; the model runs at {:.0}% of it", 100.0 * r.gflops / bf16),
                Precision::F32 => String::new(),
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
