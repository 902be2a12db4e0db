//! `recur completions SHELL` and `recur man`: the scripts parse in their
//! shells and complete subcommands and flags; the manual pages render with
//! `man -l`. Checks that need a program this machine lacks (bash, zsh, fish,
//! man) skip with a message, except `man` and `bash` where `CI` is set:
//! there they fail (`.ci/run` installs man-db, zsh and fish).

#[path = "common/cli.rs"]
mod cli;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use cli::{TempDir, assert_fails, assert_ok, recur, stdout};

/// The subcommands `recur --help` lists (clap's `help` left out).
fn subcommands() -> Vec<String> {
    let o = recur(&["--help"]);
    assert_ok(&o);
    let help = stdout(&o);
    let names: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    for expected in ["train", "seq2seq", "completions", "man"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    names
}

/// `recur completions shell`'s script, checked to succeed and mention every
/// subcommand.
fn script(shell: &str) -> String {
    let o = recur(&["completions", shell]);
    assert_ok(&o);
    let text = stdout(&o);
    assert!(text.len() > 1000, "{shell}: a short script:\n{text}");
    for name in subcommands() {
        assert!(text.contains(&name), "{shell}: {name} is not completed");
    }
    // A flag of a subcommand (fish writes it `-l hidden`).
    for nested in ["translate", "predict", "activations", "hidden"] {
        assert!(text.contains(nested), "{shell}: {nested} is not completed");
    }
    text
}

/// Whether `program` runs here. Where it does not: `None` after a message,
/// or a failure where `required` and `CI` is set.
fn available(program: &str, required: bool) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            !(required && std::env::var_os("CI").is_some()),
            "CI is set but {program} is not installed (.ci/run installs it)"
        );
        eprintln!(
            "SKIPPED: {program} is not installed; its check of the generated file is left out"
        );
    }
    found
}

/// Run `program args` with `input` on standard input; its standard output,
/// after asserting it succeeded.
fn run_with_input(program: &str, args: &[&str], input: &str) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to stdin");
    let o = child.wait_with_output().expect("wait");
    assert!(
        o.status.success(),
        "{program} {args:?} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bash_script_parses_and_completes_subcommands_and_flags() {
    let text = script("bash");
    if !available("bash", true) {
        return;
    }
    run_with_input("bash", &["-n"], &text);
    // Source the script and call its completion function as bash would for
    // the words typed so far; print what it offers.
    let complete = |words: &[&str]| -> Vec<String> {
        let line = words.join(" ");
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let program = format!(
            "{text}\nCOMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{line}'; COMP_POINT={}\n\
             _recur recur '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
            quoted.join(" "),
            words.len() - 1,
            line.len(),
            words[words.len() - 1],
            words[words.len() - 2],
        );
        run_with_input("bash", &[], &program)
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(complete(&["recur", "se"]), ["seq2seq"]);
    let offered = complete(&["recur", "seq2seq", "tr"]);
    assert!(
        offered.contains(&"train".to_string()) && offered.contains(&"translate".to_string()),
        "{offered:?}"
    );
    assert_eq!(complete(&["recur", "train", "--hidd"]), ["--hidden"]);
    assert_eq!(complete(&["recur", "completions", "z"]), ["zsh"]);
}

#[test]
fn zsh_script_names_recur_and_parses() {
    let text = script("zsh");
    assert!(text.starts_with("#compdef recur"), "{}", &text[..40]);
    if available("zsh", false) {
        run_with_input("zsh", &["-n"], &text);
    }
}

#[test]
fn fish_script_parses_and_completes() {
    let text = script("fish");
    if !available("fish", false) {
        return;
    }
    run_with_input("fish", &["-n"], &text);
    let d = TempDir::new("fish-completions");
    let file = d.file("recur.fish", &text);
    let offered = run_with_input(
        "fish",
        &[
            "-c",
            &format!("source {}; complete -C 'recur seq2seq tr'", file.display()),
        ],
        "",
    );
    let names: Vec<&str> = offered
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(names, ["train", "translate"], "{offered}");
}

#[test]
fn powershell_and_elvish_scripts_mention_every_subcommand() {
    assert!(script("powershell").contains("Register-ArgumentCompleter"));
    assert!(script("elvish").contains("edit:completion:arg-completer[recur]"));
}

#[test]
fn an_unknown_shell_is_refused_with_the_ones_known() {
    let o = recur(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "clap's usage error");
    let err = cli::stderr(&o);
    assert!(
        err.contains("invalid value 'tcsh'") && err.contains("bash, elvish, fish, powershell, zsh"),
        "{err}"
    );
}

/// `man -l page` rendered as plain text, or `None` (after a message) where
/// man is not installed and `CI` is unset. Fails on any warning.
fn render(page: &Path) -> Option<String> {
    if !available("man", true) {
        return None;
    }
    let o = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env("MANROFFOPT", "-ww")
        .output()
        .expect("run man");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.is_empty(),
        "man -l {page:?}: {err}"
    );
    // groff justifies lines with extra spaces and may show a hyphen where it
    // breaks a word as U+2010: one space between words, plain hyphens.
    let text = String::from_utf8_lossy(&o.stdout).replace('\u{2010}', "-");
    Some(
        text.lines()
            .map(|l| {
                let indent = l.len() - l.trim_start().len();
                let words: Vec<&str> = l.split_whitespace().collect();
                format!("{}{}", &l[..indent], words.join(" "))
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

#[test]
fn man_page_renders_with_every_subcommand() {
    let o = recur(&["man"]);
    assert_ok(&o);
    let roff = stdout(&o);
    assert!(roff.contains(".TH recur 1"), "{roff}");
    let d = TempDir::new("man-stdout");
    let page = d.file("recur.1", &roff);
    let Some(text) = render(&page) else { return };
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SUBCOMMANDS"] {
        assert!(text.lines().any(|l| l == section), "no {section}:\n{text}");
    }
    assert!(text.contains("recur - Recurrent neural networks"), "{text}");
    for name in subcommands() {
        assert!(
            text.contains(&format!("recur-{name}(1)")),
            "{name}:\n{text}"
        );
    }
}

#[test]
fn man_out_writes_a_page_per_subcommand_that_renders() {
    let d = TempDir::new("man-out");
    let dir = d.path("share/man/man1");
    let o = recur(&["man", "--out", dir.to_str().unwrap()]);
    assert_ok(&o);
    assert!(stdout(&o).is_empty(), "pages go to files, not stdout");
    assert!(cli::stderr(&o).contains("recur.1"), "{}", cli::stderr(&o));
    let mut expected: Vec<String> = subcommands()
        .iter()
        .map(|n| format!("recur-{n}.1"))
        .chain(["recur.1".into(), "recur-seq2seq-translate.1".into()])
        .chain(["recur-viz-tsne.1".into(), "recur-forecast-predict.1".into()])
        .collect();
    expected.sort();
    let written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for name in &expected {
        assert!(written.contains(name), "{name} not in {written:?}");
    }
    assert!(
        written
            .iter()
            .all(|w| w.starts_with("recur") && w.ends_with(".1")),
        "{written:?}"
    );
    for name in &written {
        let Some(text) = render(&dir.join(name)) else {
            return;
        };
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{name}");
    }
    let train = render(&dir.join("recur-train.1")).unwrap_or_default();
    let seq2seq = render(&dir.join("recur-seq2seq-translate.1")).unwrap_or_default();
    if !train.is_empty() {
        assert!(train.contains("--hidden <HIDDEN>"), "{train}");
        assert!(seq2seq.contains("recur seq2seq translate"), "{seq2seq}");
    }
    // Written again over the same pages: replaced, not refused.
    assert_ok(&recur(&["man", "--out", dir.to_str().unwrap()]));
}

#[test]
fn man_out_on_a_file_is_a_clear_error() {
    let d = TempDir::new("man-out-file");
    let file = d.file("taken", "not a folder");
    let o = recur(&["man", "--out", file.to_str().unwrap()]);
    assert_fails(&o, &["taken"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a folder");
}
