//! A `recur` built without the `mpi` feature, started as one of several
//! MPI ranks, refuses to train (each rank would train the whole model
//! into the same folder) and says how to build one that can.

#![cfg(not(feature = "mpi"))]

#[path = "common/cli.rs"]
mod cli;
use cli::{TempDir, assert_fails};

#[test]
fn a_build_without_mpi_refuses_to_run_as_one_of_several_ranks() {
    let d = TempDir::new("mpi-missing");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args([
            "train",
            "--iters",
            "1",
            "--sample-len",
            "0",
            "--out",
            &d.arg("run"),
        ])
        .env("OMPI_COMM_WORLD_SIZE", "3")
        .output()
        .expect("run recur");
    assert_fails(&o, &["one of 3 MPI ranks", "--features mpi"]);
    assert!(!d.path("run").exists(), "it trained anyway");
}
