use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use recur::Result;
use recur::checkpoint::load_model;
use recur::sample::{SampleOptions, generate};

#[derive(Args, Debug)]
pub struct SampleArgs {
    /// model.safetensors, or the run folder holding it.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text to start from.
    #[arg(long, default_value = "")]
    prime: String,
    /// Characters to generate.
    #[arg(long, default_value_t = 500, allow_hyphen_values = true)]
    length: usize,
    /// Below 1: safer, more repetitive; above 1: more surprising.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    temperature: f64,
    /// Sample only among the K most likely characters.
    #[arg(long, allow_hyphen_values = true)]
    top_k: Option<usize>,
    /// Always take the most likely character.
    #[arg(long)]
    greedy: bool,
    /// Seed of the sampler [default: from the clock]. With --device gpu
    /// every character is drawn on the GPU, from another generator than the
    /// CPU's: a seed gives another text there (--greedy the same).
    #[arg(long)]
    seed: Option<u64>,
    #[command(flatten)]
    device: super::device::DeviceArgs,
}

pub fn run(a: SampleArgs) -> Result<ExitCode> {
    recur::check::between("--length", a.length, 0, recur::sample::MAX_LENGTH)?;
    let ckpt = load_model(&super::model_file(&a.checkpoint))?;
    let opts = SampleOptions {
        temperature: a.temperature,
        top_k: a.top_k,
        greedy: a.greedy,
    };
    let seed = a.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    });
    let start = std::time::Instant::now();
    let text = match a.device.open()? {
        super::device::Device::Cpu => {
            generate(&ckpt.net, &ckpt.vocab, &a.prime, a.length, &opts, seed)?
        }
        #[cfg(feature = "gpu")]
        super::device::Device::Gpu(gpu) => {
            let (config, params) = (ckpt.net.config().clone(), ckpt.net.params);
            let net = recur::model::Net::from_params_on(gpu, config, params)?;
            recur::sample::generate_on(&net, &ckpt.vocab, &a.prime, a.length, &opts, seed)?
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!("{}{text}", a.prime);
    let n = text.chars().count();
    eprintln!(
        "generated {n} characters in {secs:.3} s ({:.0} characters/s)",
        n as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
