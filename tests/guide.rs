//! The learner's guide (`docs/guide.md`) cannot drift from the code: every
//! Rust excerpt in it is found in the file it names, and every command in
//! it runs and prints what the guide shows.
//!
//! The guide's conventions, which these tests enforce:
//! - A ```` ```rust ```` block follows a line `<!-- excerpt: PATH -->` (PATH
//!   from the crate's root) and is found in that file verbatim, up to each
//!   line's leading indentation. A line `// ...` in it skips source lines:
//!   the parts between skips appear in the file in that order.
//! - A ```` ```console ```` block holds commands, each on a line starting
//!   with `$ ` (`recur ...` or `cargo run --release --example NAME`), each
//!   followed by the lines of output the guide shows. The command must
//!   succeed and print each of those lines, in order (a line `...` stands
//!   for lines left out). Relative errors below the gradient check's
//!   tolerance (rounding noise, which varies with the machine and the
//!   compiler) compare equal to any other such number.
//! - Any other fenced block is ```` ```text ```` (equations, no code).
//!
//! The examples are built by `cargo test` (or `cargo build --release
//! --examples`); `cargo test --test guide` alone does not build them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One fenced block of the guide.
#[derive(Debug)]
struct Block {
    /// The line of the guide the block's fence is on (1-based).
    line: usize,
    /// The fence's language.
    lang: String,
    /// The file named by an excerpt marker right before it.
    source: Option<String>,
    /// The lines inside the fences.
    body: Vec<String>,
}

const MARKER: &str = "<!-- excerpt: ";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fenced blocks of a Markdown text.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    let mut marker: Option<String> = None;
    while let Some((n, line)) = lines.next() {
        if let Some(rest) = line.strip_prefix(MARKER) {
            marker = Some(rest.trim_end_matches("-->").trim().to_string());
            continue;
        }
        let Some(lang) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                marker = None; // a marker names the block right after it
            }
            continue;
        };
        let body = lines
            .by_ref()
            .map(|(_, l)| l)
            .take_while(|l| !l.starts_with("```"))
            .map(str::to_string)
            .collect();
        out.push(Block {
            line: n + 1,
            lang: lang.trim().to_string(),
            source: marker.take(),
            body,
        });
    }
    out
}

/// Whether `excerpt` appears in `source` (see the module docs): each part
/// between `// ...` lines as consecutive lines, the parts in order, lines
/// compared without their leading whitespace.
fn excerpt_found(excerpt: &[String], source: &str) -> bool {
    let src: Vec<&str> = source.lines().map(str::trim_start).collect();
    let mut from = 0;
    for part in excerpt.split(|l| l.trim() == "// ...") {
        let part: Vec<&str> = part.iter().map(|l| l.trim_start()).collect();
        if part.is_empty() {
            continue;
        }
        match (from..=src.len().saturating_sub(part.len()))
            .find(|&i| src[i..i + part.len()] == part[..])
        {
            Some(i) => from = i + part.len(),
            None => return false,
        }
    }
    true
}

fn guide() -> String {
    let path = root().join("docs/guide.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_rust_block_is_an_excerpt_found_in_its_source_file() {
    let blocks = blocks(&guide());
    let mut wrong = Vec::new();
    let mut excerpts = 0;
    for b in &blocks {
        match (b.lang.as_str(), &b.source) {
            ("rust", Some(file)) => {
                excerpts += 1;
                let text = std::fs::read_to_string(root().join(file))
                    .unwrap_or_else(|e| panic!("guide line {}: {file}: {e}", b.line));
                if !excerpt_found(&b.body, &text) {
                    wrong.push(format!(
                        "guide line {}: this excerpt is not in {file} (any more):\n{}",
                        b.line,
                        b.body.join("\n")
                    ));
                }
            }
            ("rust", None) => wrong.push(format!(
                "guide line {}: a rust block without `{MARKER}PATH -->` before it",
                b.line
            )),
            ("console" | "text", None) => {}
            (lang, _) => wrong.push(format!(
                "guide line {}: a ```{lang} block (excerpts are ```rust, commands ```console, equations ```text)",
                b.line
            )),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
    assert!(excerpts >= 10, "only {excerpts} excerpts found");
}

#[test]
fn a_changed_or_reordered_excerpt_is_caught() {
    let source = "fn f() {\n    let a = 1;\n    let b = 2;\n    a + b\n}\n";
    let lines = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(excerpt_found(&lines(&["let a = 1;", "let b = 2;"]), source));
    assert!(excerpt_found(
        &lines(&["fn f() {", "// ...", "    a + b"]),
        source
    ));
    assert!(!excerpt_found(
        &lines(&["let a = 1;", "let b = 3;"]),
        source
    ));
    assert!(!excerpt_found(&lines(&["let a = 1;", "a + b"]), source));
    assert!(!excerpt_found(
        &lines(&["let b = 2;", "// ...", "let a = 1;"]),
        source
    ));
}

/// `target/<profile>/examples/NAME`, beside this test's own binary.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    dir.join("examples").join(name)
}

/// Run one of the guide's commands; its standard output.
fn run(command: &str) -> String {
    let words: Vec<&str> = command.split_whitespace().collect();
    let mut cmd = match words[..] {
        ["recur", ref args @ ..] => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_recur"));
            c.args(args);
            c
        }
        ["cargo", "run", "--release", "--example", name] => {
            let path = example(name);
            assert!(
                path.exists(),
                "{}: not built (`cargo test` builds the examples; `--test guide` alone does not: run `cargo build --release --examples` first)",
                path.display()
            );
            Command::new(path)
        }
        _ => panic!(
            "the guide runs `recur ...` and `cargo run --release --example NAME` only, not `{command}`"
        ),
    };
    let o = cmd.output().unwrap_or_else(|e| panic!("{command}: {e}"));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "`{command}` failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// A line as compared: words separated by one space, and every number in
/// scientific notation below the gradient check's tolerance replaced by
/// `~0`.
fn normalize(line: &str) -> String {
    let tiny = |w: &str| {
        let n = w.trim_end_matches([',', ')', ';']);
        n.contains('e') && n.parse::<f64>().is_ok_and(|v| v.abs() < 1e-6)
    };
    line.split_whitespace()
        .map(|w| if tiny(w) { "~0" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The commands of a console block, each with the output lines shown.
fn commands(block: &Block) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in &block.body {
        match (line.strip_prefix("$ "), out.last_mut()) {
            (Some(cmd), _) => out.push((cmd.trim().to_string(), Vec::new())),
            (None, Some((_, shown))) => shown.push(line.clone()),
            (None, None) => panic!(
                "guide line {}: a console block starts with `$ command`",
                block.line
            ),
        }
    }
    out
}

/// Each non-empty `shown` line (but `...`) in `actual`'s lines, in order;
/// the first one missing.
fn first_missing(shown: &[String], actual: &str) -> Option<String> {
    let actual: Vec<String> = actual.lines().map(normalize).collect();
    let mut at = 0;
    for want in shown
        .iter()
        .filter(|l| !l.trim().is_empty() && l.trim() != "...")
    {
        let want = normalize(want);
        match actual[at..].iter().position(|a| *a == want) {
            Some(i) => at += i + 1,
            None => return Some(want),
        }
    }
    None
}

#[test]
fn every_command_runs_and_prints_what_the_guide_shows() {
    let mut ran = 0;
    for block in blocks(&guide()).iter().filter(|b| b.lang == "console") {
        for (command, shown) in commands(block) {
            let out = run(&command);
            ran += 1;
            if let Some(line) = first_missing(&shown, &out) {
                panic!(
                    "guide line {}: `{command}` did not print (in this order)\n  {line}\nIt printed:\n{out}",
                    block.line
                );
            }
        }
    }
    assert!(ran >= 4, "only {ran} commands found");
}

#[test]
fn shown_output_is_compared_line_by_line_in_order() {
    let out = "ok    3.02e-10  rnn (tanh)\nFAIL  1.5e0  Wxh\n2 passed\n";
    let shown = |s: &[&str]| s.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    // Noise below the tolerance matches any other noise.
    assert_eq!(
        first_missing(&shown(&["ok 8.1e-9 rnn (tanh)", "...", "2 passed"]), out),
        None
    );
    // A failure's figure must match, and so must the order.
    assert!(first_missing(&shown(&["FAIL  1.4e0  Wxh"]), out).is_some());
    assert!(first_missing(&shown(&["2 passed", "FAIL  1.5e0  Wxh"]), out).is_some());
    assert!(first_missing(&shown(&["ok 2.0e-5 rnn (tanh)"]), out).is_some());
}
