//! What is refused in a process an MPI launcher started as one of several
//! ranks (the launcher's environment is set by hand here, no MPI needed):
//! a `recur` built without the `mpi` feature refuses to train a language
//! model, a seq2seq model or a forecaster (each rank would train the whole
//! model into the same folder) and says how to build one that can.
#![cfg(not(feature = "mpi"))]

#[path = "common/cli.rs"]
mod cli;
use cli::{TempDir, assert_fails};

/// `recur args` as one of 3 ranks of an OpenMPI job.
fn as_rank(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .env("OMPI_COMM_WORLD_SIZE", "3")
        .output()
        .expect("run recur")
}

#[test]
fn a_build_without_mpi_refuses_to_train_as_one_of_several_ranks() {
    let d = TempDir::new("mpi-missing");
    for (command, more) in [
        (None, ["--sample-len", "0"]),
        (Some("seq2seq"), ["--task", "reverse"]),
        (Some("forecast"), ["--synthetic", "noisy-sine"]),
    ] {
        let out = d.arg(command.unwrap_or("lm"));
        let mut args: Vec<&str> = command.into_iter().collect();
        args.extend(["train", "--iters", "1", "--out", &out]);
        args.extend(more);
        let o = as_rank(&args);
        assert_fails(&o, &["one of 3 MPI ranks", "--features mpi"]);
        assert!(
            !std::path::Path::new(&out).exists(),
            "{command:?} trained anyway"
        );
    }
}
