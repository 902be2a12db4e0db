//! The HTML activation viewer in a real browser (Debian's chromium,
//! headless): the page opened from a file URL with `#selftest` picks another
//! unit and hovers a character, and the dumped DOM shows both took effect and
//! that the page made no network request. Skips, saying so, where chromium
//! is not installed (`.ci/run` installs it).

mod common;

use std::path::PathBuf;
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

#[test]
fn viewer_reacts_to_unit_choice_and_hover_without_network() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED: chromium is not installed (apt-get install chromium); the viewer's browser test needs it"
        );
        return;
    };
    let d = std::env::temp_dir().join(format!("recur-viewer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let text = "He said \"to be (or not) to be\"; that is the question.\n".repeat(10);
    let flags = [
        "--model", "gru", "--layers", "2", "--hidden", "8", "--iters", "30",
    ];
    let (corpus, run) = common::train_lm(&d, &text, &flags);
    let bin = env!("CARGO_BIN_EXE_recur");
    let page = d.join("viewer.html");
    let o = Command::new(bin)
        .args([
            "viz",
            "activations",
            "--checkpoint",
            run.to_str().unwrap(),
            "--file",
            corpus.to_str().unwrap(),
        ])
        .args(["--out", page.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page names a network address"
    );
    assert!(
        html.contains("default-src 'none'"),
        "no content security policy"
    );

    let profile = d.join("profile");
    let url = format!("file://{}#selftest", page.display());
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=5000", "--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let start = dom
        .find("<pre id=\"selftest\">")
        .expect("the page rendered its self-test")
        + "<pre id=\"selftest\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let report: serde_json::Value = serde_json::from_str(
        &dom[start..end]
            .replace("&quot;", "\"")
            .replace("&amp;", "&"),
    )
    .unwrap();
    assert_eq!(report["unitChanged"], true, "{report}");
    assert_eq!(report["hoverShown"], true, "{report}");
    assert_eq!(report["layer"], "1", "{report}");
    assert_eq!(
        report["requests"], 0,
        "the page made network requests: {report}"
    );
    assert!(report["predictions"].as_str().unwrap().contains('%'));
    let _ = std::fs::remove_dir_all(&d);
}
