//! Data-parallel training over MPI (`mpirun -np N recur train`, the `mpi`
//! feature): 2- and 3-rank jobs on this one machine, over loopback and
//! shared memory only. N ranks give the single process's run bit for bit
//! (so within any tolerance, and the same run to run), a run resumes
//! exactly with the same or another rank count, rank 0 alone writes, and a
//! rank that dies stops the job within seconds.
//!
//! Where `mpirun` is missing the tests skip with a message, unless the
//! environment variable `CI` is set: there they fail.

#![cfg(feature = "mpi")]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "common/cli.rs"]
mod cli;
use cli::{TempDir, assert_ok, p, recur, stderr};

/// Whether `mpirun` can be run; without it, a skip message (a failure
/// under CI).
fn have_mpirun() -> bool {
    let found = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "mpirun is missing (CI is set): install openmpi-bin libopenmpi-dev"
        );
        eprintln!("skipped: mpirun is not installed (apt-get install openmpi-bin libopenmpi-dev)");
    }
    found
}

/// `mpirun -np n recur args`, started: oversubscribed (this machine may
/// have fewer cores than ranks), as root where the tests run as root,
/// over loopback and shared memory only.
fn spawn_mpirun(n: usize, args: &[String]) -> Child {
    Command::new("mpirun")
        .args([
            "--oversubscribe",
            "--allow-run-as-root",
            "-np",
            &n.to_string(),
        ])
        .args(["--mca", "btl", "self,vader,tcp"])
        .args(["--mca", "btl_tcp_if_include", "lo"])
        .args(["--mca", "oob_tcp_if_include", "lo"])
        // Containers often forbid the cross-memory attach vader would use.
        .env("OMPI_MCA_btl_vader_single_copy_mechanism", "none")
        .arg(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mpirun")
}

/// Wait for `child` at most `limit`; `None` (the child killed) past it.
/// Its output is read while it runs: a child that filled a pipe nobody
/// read would wait for ever.
fn wait_for(mut child: Child, limit: Duration) -> Option<Output> {
    let (stdout, stderr) = (drain(child.stdout.take()), drain(child.stderr.take()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for mpirun") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |h: std::thread::JoinHandle<Vec<u8>>| h.join().expect("read mpirun's output");
    Some(Output {
        status,
        stdout: read(stdout),
        stderr: read(stderr),
    })
}

/// Everything `pipe` gives until it closes, read on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut all = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut all);
        }
        all
    })
}

/// `mpirun -np n recur args` to its end (a failure after two minutes: a
/// hang).
fn mpirun(n: usize, args: &[String]) -> Output {
    wait_for(spawn_mpirun(n, args), Duration::from_secs(120))
        .unwrap_or_else(|| panic!("mpirun -np {n} recur {args:?} did not finish in two minutes"))
}

/// `recur args` as one process (`ranks` 1) or under `mpirun -np ranks`.
fn run_ranks(ranks: usize, args: &[String]) -> Output {
    match ranks {
        1 => recur(args),
        _ => mpirun(ranks, args),
    }
}

/// A command line's words.
fn words_of(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

/// `recur train` on `corpus` (a word list with `words`) into `out`: a
/// small 2-layer GRU with dropout (random draws in every shard) over 48
/// streams, three shards of 16, one thread per process.
fn train_args(corpus: &Path, words: bool, out: &Path, more: &str) -> Vec<String> {
    let data = if words { "--words" } else { "--corpus" };
    let mut a: Vec<String> = [
        "train",
        data,
        &p(corpus),
        "--out",
        &p(out),
        "--model",
        "gru",
        "--hidden",
        "12",
        "--layers",
        "2",
        "--dropout",
        "0.2",
        "--batch",
        "48",
        "--seq-len",
        "6",
        "--seed",
        "7",
        "--log-every",
        "1",
        "--eval-every",
        "5",
        "--threads",
        "1",
        "--sample-len",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(more.split_whitespace().map(String::from));
    a
}

/// Some 4 KB of text; one word per line with `lines`.
fn text(lines: bool) -> String {
    let words = [
        "arma", "virumque", "cano", "troiae", "qui", "primus", "ab", "oris",
    ];
    let sep = if lines { "\n" } else { " " };
    (0..700)
        .map(|i| words[(i * 5 + i / 3) % words.len()])
        .collect::<Vec<_>>()
        .join(sep)
}

/// Each logged iteration's training loss.
fn train_losses(log: &Path) -> Vec<f64> {
    std::fs::read_to_string(log)
        .expect("read the log")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["train_loss"].as_f64().expect("a training loss")
        })
        .collect()
}

/// The same loss curve: as many logged iterations, each loss within 1e-6.
#[track_caller]
fn assert_same_curve(one: &[f64], many: &[f64], what: &str) {
    assert_eq!(many.len(), one.len(), "{what}");
    for (a, b) in one.iter().zip(many) {
        assert!((a - b).abs() <= 1e-6, "{what}: loss {b} against {a}");
    }
}

/// What a run left: its model and state files' bytes, and its log's losses.
fn results(out: &Path, log: &Path) -> (Vec<u8>, Vec<u8>, Vec<f64>) {
    let read = |name: &str| std::fs::read(out.join(name)).expect("a saved file");
    (
        read("model.safetensors"),
        read("state.safetensors"),
        train_losses(log),
    )
}

/// With `--exchange allreduce` the ranks sum their own shards, then each
/// other's: the results move from one process's by rounding only (SGD,
/// whose step does not amplify it as Adam's does for gradients near
/// zero), and repeat bit for bit for a given rank count.
#[test]
fn an_allreduce_stays_within_rounding_of_one_process_and_repeats() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-allreduce");
    let corpus = d.file("data.txt", text(false));
    // `overlap`: whether the exchange runs beside the backward (several
    // ranks only).
    let run = |ranks: usize, overlap: bool, name: &str| {
        let (out, log) = (d.path(name), d.path(&format!("{name}.jsonl")));
        let more = format!("--iters 12 --optimizer sgd --lr 0.5 --log {}", p(&log));
        let mut args = train_args(&corpus, false, &out, &more);
        if ranks > 1 {
            let overlap = if overlap { "on" } else { "off" };
            args.extend(["--exchange", "allreduce", "--overlap", overlap].map(String::from));
        }
        let o = run_ranks(ranks, &args);
        assert_ok(&o);
        if ranks > 1 {
            let err = String::from_utf8_lossy(&o.stderr);
            let how = if overlap { ", beside the backward" } else { "" };
            assert!(
                err.contains(&format!("{ranks} ranks (allreduce{how})")),
                "{err}"
            );
        }
        results(&out, &log)
    };
    let one = run(1, false, "one");
    let three = run(3, true, "three");
    let two = run(2, true, "two");
    for (ranks, many) in [(2, two.clone()), (3, three.clone())] {
        assert_same_curve(&one.2, &many.2, &format!("{ranks} ranks"));
    }
    let again = run(3, true, "three-again");
    assert!(
        again.0 == three.0 && again.1 == three.1,
        "3 ranks, run twice: the files differ"
    );
    // Exchanged after the backward rather than beside it, the same sums:
    // two ranks add one pair a value.
    let after = run(2, false, "two-after");
    assert!(
        after.0 == two.0 && after.1 == two.1,
        "2 ranks: the exchange beside the backward and after it differ"
    );
    assert_same_curve(
        &one.2,
        &run(3, false, "three-after").2,
        "3 ranks, --overlap off",
    );
}

/// `recur seq2seq train` and `recur forecast train` over ranks: each rank
/// runs its part of every batch and the ranks sum the gradients, so the
/// results move from one process's by rounding only (SGD for seq2seq, as
/// above), repeat bit for bit for a rank count, and a seq2seq run resumes
/// exactly; more ranks than a batch has windows is refused.
#[test]
fn seq2seq_and_forecasts_train_over_ranks_within_rounding() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-seq2seq");
    let seq2seq = |ranks: usize, name: &str, more: &str| {
        let (out, log) = (d.path(name), d.path(&format!("{name}.jsonl")));
        let args = words_of(&format!(
            "seq2seq train --task reverse --hidden 16 --batch 16 --eval-every 4 \
             --optimizer sgd --lr 0.5 --schedule constant --seed 5 --out {} --log {} {more}",
            p(&out),
            p(&log)
        ));
        assert_ok(&run_ranks(ranks, &args));
        (
            std::fs::read(out.join("model.safetensors")).expect("a model"),
            train_losses(&log),
        )
    };
    let one = seq2seq(1, "s-one", "--iters 12");
    let three = seq2seq(3, "s-three", "--iters 12");
    for (ranks, many) in [(2, seq2seq(2, "s-two", "--iters 12")), (3, three.clone())] {
        assert_same_curve(&one.1, &many.1, &format!("{ranks} ranks: one writer"));
    }
    assert!(
        seq2seq(3, "s-three-again", "--iters 12").0 == three.0,
        "3 ranks, twice"
    );
    seq2seq(3, "s-split", "--iters 6");
    let resumed = seq2seq(3, "s-split", "--resume --iters 12");
    assert!(resumed.0 == three.0, "the resumed seq2seq run differs");

    let forecast = |ranks: usize, name: &str, batch: &str| {
        let out = d.path(name);
        let args = words_of(&format!(
            "forecast train --synthetic noisy-sine --iters 40 --hidden 12 --batch {batch} --out {}",
            p(&out)
        ));
        (run_ranks(ranks, &args), out)
    };
    // The network's test MSE, from the report.
    let mse = |o: &Output| -> f64 {
        let text = String::from_utf8_lossy(&o.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("network"))
            .expect("a report");
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let (one, _) = forecast(1, "f-one", "32");
    let (three, three_out) = forecast(3, "f-three", "32");
    let (again, again_out) = forecast(3, "f-three-again", "32");
    for o in [&one, &three, &again] {
        assert_ok(o);
    }
    assert!(
        (mse(&one) - mse(&three)).abs() <= 1e-5 * mse(&one),
        "{} vs {}",
        mse(&one),
        mse(&three)
    );
    let model = |out: &Path| std::fs::read(out.join("model.safetensors")).expect("a model");
    assert!(model(&three_out) == model(&again_out), "3 ranks, twice");
    let (o, out) = forecast(3, "f-refused", "2");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("3 ranks but a batch holds 2"),
        "{}",
        stderr(&o)
    );
    assert!(!out.exists(), "a refused run leaves no folder");
}

#[test]
fn ranks_give_the_single_process_run_bit_for_bit() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-equal");
    for words in [false, true] {
        let corpus = d.file("data.txt", text(words));
        let run = |ranks: usize, overlap: &str, name: &str| {
            let (out, log) = (d.path(name), d.path(&format!("{name}.jsonl")));
            // The word list's 700 words, none held out, make 15 batches
            // of 48, the last of 28: its third shard (rows 32-47) is empty.
            let more = match words {
                true => "--iters 16 --val-frac 0",
                false => "--iters 12",
            };
            let more = format!("{more} --overlap {overlap} --log {}", p(&log));
            let args = train_args(&corpus, words, &out, &more);
            assert_ok(&run_ranks(ranks, &args));
            results(&out, &log)
        };
        let one = run(1, "off", &format!("one-{words}"));
        assert_eq!(
            one.2.len(),
            if words { 16 } else { 12 },
            "a line per iteration"
        );
        // The exchange beside the backward (on) and after it (off).
        for (ranks, overlap, name) in [
            (2, "on", "two"),
            (3, "on", "three"),
            (2, "on", "two-again"),
            (2, "off", "two-after"),
            (3, "off", "three-after"),
        ] {
            let many = run(ranks, overlap, &format!("{name}-{words}"));
            // One writer: a log line per iteration, not one per rank.
            assert_same_curve(&one.2, &many.2, &format!("{ranks} ranks, words {words}"));
            assert!(
                many.0 == one.0,
                "{ranks} ranks (words {words}): the model differs"
            );
            assert!(
                many.1 == one.1,
                "{ranks} ranks (words {words}): the state differs"
            );
        }
    }
}

#[test]
fn a_run_resumes_exactly_with_the_same_or_another_rank_count() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-resume");
    let corpus = d.file("corpus.txt", text(false));
    let (whole, split) = (d.path("whole"), d.path("split"));
    let (whole_log, split_log) = (d.path("whole.jsonl"), d.path("split.jsonl"));
    let log = |l: &Path| format!("--log {}", p(l));
    let whole_args = train_args(
        &corpus,
        false,
        &whole,
        &format!("--iters 15 {}", log(&whole_log)),
    );
    assert_ok(&recur(&whole_args));
    for (ranks, more) in [
        (2, "--iters 5"),
        (2, "--resume --iters 10 --overlap on"),
        (3, "--resume --iters 15"),
    ] {
        let more = format!("{more} {}", log(&split_log));
        assert_ok(&mpirun(ranks, &train_args(&corpus, false, &split, &more)));
    }
    let (a, b) = (results(&whole, &whole_log), results(&split, &split_log));
    assert_eq!(b.2.len(), 15, "the log goes on across the resumes");
    assert!(
        a.0 == b.0,
        "the resumed run's model differs from the uninterrupted one"
    );
    assert!(
        a.1 == b.1,
        "the resumed run's state differs from the uninterrupted one"
    );
    assert_eq!(a.2, b.2);
}

#[test]
fn more_ranks_than_shards_is_refused_clearly() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-refused");
    let corpus = d.file("corpus.txt", text(false));
    let out = d.path("run");
    // 20 streams of a small model are two shards.
    let mut args = train_args(&corpus, false, &out, "--iters 3");
    let at = args.iter().position(|a| a == "48").expect("the batch");
    args[at] = "20".into();
    let o = mpirun(3, &args);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("error: 3 ranks but the batch splits into 2 shards"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("run at most 2 ranks"), "{}", stderr(&o));
    assert!(!out.exists(), "a refused run leaves no folder");
}

/// With `--time`, the ranks read rank 0's clock: they stop together (a
/// rank that stopped alone would leave the others waiting in the exchange
/// until `mpirun` gives up), the run is saved, and it resumes with another
/// rank count and a larger budget.
#[test]
fn a_time_budget_is_one_clock_for_all_ranks() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-time");
    let corpus = d.file("corpus.txt", text(false));
    let (out, log) = (d.path("run"), d.path("run.jsonl"));
    let timed = |budget: &str, more: &str| {
        let more = format!("--time {budget} --schedule cosine --log {} {more}", p(&log));
        train_args(&corpus, false, &out, &more)
    };
    let started = Instant::now();
    let o = mpirun(2, &timed("2s", ""));
    assert_ok(&o);
    assert!(stderr(&o).contains("saved to"), "{}", stderr(&o));
    let first = train_losses(&log).len();
    assert!(first > 0, "it logged");
    assert_ok(&mpirun(3, &timed("4s", "--resume")));
    assert!(
        train_losses(&log).len() > first,
        "the resumed run trained on"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// The process ids of `mpirun`'s children (the ranks), by rank, once
/// there are `n`.
fn ranks_of(mpirun: u32, n: usize) -> Vec<u32> {
    let start = Instant::now();
    loop {
        let mut found: Vec<(usize, u32)> = std::fs::read_dir("/proc")
            .expect("list /proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let ppid: u32 = stat.rsplit(") ").next()?.split(' ').nth(1)?.parse().ok()?;
                (ppid == mpirun).then_some(())?;
                let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
                let rank = env
                    .split(|&b| b == 0)
                    .find_map(|v| v.strip_prefix(b"OMPI_COMM_WORLD_RANK="))?;
                Some((std::str::from_utf8(rank).ok()?.parse().ok()?, pid))
            })
            .collect();
        if found.len() == n {
            found.sort();
            return found.into_iter().map(|(_, pid)| pid).collect();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the ranks did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether process `pid` exists and is not a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')))
}

#[test]
fn a_killed_rank_stops_the_job_within_seconds() {
    if !have_mpirun() {
        return;
    }
    let d = TempDir::new("mpi-kill");
    let corpus = d.file("corpus.txt", text(false));
    let out = d.path("run");
    // Far more iterations than the test waits for.
    let log = d.path("run.jsonl");
    let more = format!("--iters 10000000 --log {}", p(&log));
    let job = spawn_mpirun(2, &train_args(&corpus, false, &out, &more));
    let pids = ranks_of(job.id(), 2);
    // Let training start (a checkpoint is written every 5 iterations).
    let start = Instant::now();
    while !out.join("state.safetensors").exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no checkpoint was written"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-9", &pids[1].to_string()])
        .status();
    assert!(killed.expect("run kill").success());
    let o = wait_for(job, Duration::from_secs(15)).expect("the job went on after a rank died");
    assert!(
        !o.status.success(),
        "a job that lost a rank reported success"
    );
    let err = stderr(&o);
    assert!(
        err.contains("rank 1") && err.contains("Killed"),
        "no clear message:\n{err}"
    );
    let start = Instant::now();
    while running(pids[0]) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "rank 0 outlived the job"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last checkpoint (at most the last logged iteration) resumes.
    let last = train_losses(&log).len();
    let more = format!("--resume --iters {}", last + 2);
    assert_ok(&mpirun(2, &train_args(&corpus, false, &out, &more)));
}
