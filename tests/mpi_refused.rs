//! What is refused in a process an MPI launcher started as one of several
//! ranks (the launcher's environment is set by hand here, no MPI needed):
//! a `recur` built without the `mpi` feature refuses to train (each rank
//! would train the whole model into the same folder) and says how to
//! build one that can; `seq2seq train` and `forecast train`, which do not
//! train over MPI yet, refuse in any build.

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

#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_train_as_one_of_several_ranks() {
    let d = TempDir::new("mpi-missing");
    let o = as_rank(&[
        "train",
        "--iters",
        "1",
        "--sample-len",
        "0",
        "--out",
        &d.arg("run"),
    ]);
    assert_fails(&o, &["one of 3 MPI ranks", "--features mpi"]);
    assert!(!d.path("run").exists(), "it trained anyway");
}

#[test]
fn seq2seq_and_forecast_training_refuse_to_run_as_one_of_several_ranks() {
    let d = TempDir::new("mpi-alone");
    for (command, more) in [
        ("seq2seq", ["--task", "reverse"]),
        ("forecast", ["--synthetic", "noisy-sine"]),
    ] {
        let out = d.arg(command);
        let mut args = vec![command, "train", "--iters", "1", "--out", &out];
        args.extend(more);
        let o = as_rank(&args);
        assert_fails(
            &o,
            &[
                &format!("recur {command} train does not train over MPI yet"),
                "one of 3 MPI ranks",
            ],
        );
        assert!(!d.path(command).exists(), "{command} trained anyway");
    }
}
