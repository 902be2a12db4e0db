use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::bench::{self, BenchConfig};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Hidden size H.
    #[arg(long, default_value_t = 512)]
    hidden: usize,
    /// Batch B.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Sequence length T.
    #[arg(long, default_value_t = 64)]
    seq_len: usize,
    /// Vocabulary size V.
    #[arg(long, default_value_t = 65)]
    vocab: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 50)]
    iters: usize,
    /// Threads for large GEMMs (0 = all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    recur::tensor::set_threads(a.threads);
    let c = BenchConfig {
        hidden: a.hidden,
        batch: a.batch,
        seq_len: a.seq_len,
        vocab: a.vocab,
        iters: a.iters,
    };
    let r = bench::vanilla_rnn(&c)?;
    println!(
        "vanilla RNN H={} B={} T={} V={}: {:.0} chars/s, {:.1} GFLOP/s (model GEMM work {:.1} MFLOP/iter)",
        c.hidden,
        c.batch,
        c.seq_len,
        c.vocab,
        r.chars_per_sec,
        r.gflops,
        r.flop_per_iter / 1e6
    );
    println!(
        "GEMM ({}x{})·({}x{}) on this machine now: {:.1} GFLOP/s; the model runs at {:.0}% of it",
        c.seq_len * c.batch,
        c.hidden,
        c.hidden,
        c.hidden,
        r.gemm_gflops,
        100.0 * r.gflops / r.gemm_gflops
    );
    Ok(ExitCode::SUCCESS)
}
