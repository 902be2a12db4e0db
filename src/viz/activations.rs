//! A self-contained HTML page for looking inside a language model, in the
//! style of "Visualizing and Understanding Recurrent Networks" (Karpathy,
//! Johnson, Fei-Fei 2015): the text with each character's background
//! coloured by one hidden unit's value (red positive, blue negative), a
//! control to pick the layer and unit, the units most correlated with
//! quotes, brackets, spaces and the position in the line, and, on hovering
//! a character, the model's top-5 next-character predictions.
//!
//! The page loads nothing: data, script and style are inline, and a
//! Content-Security-Policy forbids any request. Opened with `#selftest` it
//! picks another unit, hovers a character and writes what happened into
//! `<pre id="selftest">` (for browser tests).

use std::path::Path;

use serde::Serialize;

use super::glyph;
use super::input::{Input, run};
use crate::checkpoint::write_atomic;
use crate::data::CharVocab;
use crate::data::vocab::{END, START};
use crate::error::{Error, Result};
use crate::model::Net;

/// The features whose most correlated units the page lists.
pub const FEATURES: [&str; 4] = [
    "inside quotes",
    "inside brackets",
    "space",
    "position in line",
];

/// A unit and its correlation with a feature: `(layer, unit, r)`.
type Selective = (usize, usize, f32);

#[derive(Serialize)]
struct Page {
    text: Vec<String>,
    /// `[layer][step][unit]`, rounded to 3 decimals.
    acts: Vec<Vec<Vec<f32>>>,
    /// `[step]`: the 5 most likely next characters with probabilities.
    top5: Vec<Vec<(String, f32)>>,
    /// `[feature] -> [(layer, unit, r)]`, strongest first.
    selective: Vec<(String, Vec<Selective>)>,
}

/// Per-step feature values of `chars`, in [`FEATURES`] order.
pub fn features(chars: &[char]) -> [Vec<f32>; 4] {
    let (mut quote, mut depth, mut col) = (false, 0i32, 0usize);
    let mut f: [Vec<f32>; 4] = Default::default();
    for &c in chars {
        if c == '"' {
            quote = !quote;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth = (depth - 1).max(0),
            _ => {}
        }
        col = if c == '\n' { 0 } else { col + 1 };
        f[0].push(f32::from(u8::from(quote)));
        f[1].push(f32::from(u8::from(depth > 0)));
        f[2].push(f32::from(u8::from(c == ' ')));
        f[3].push(col as f32);
    }
    f
}

/// Pearson correlation (0 when either side is constant).
pub fn correlation(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (
        x.iter().map(|&v| v as f64).sum::<f64>() / n,
        y.iter().map(|&v| v as f64).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64 - mx, b as f64 - my);
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        (sxy / (sxx * syy).sqrt()) as f32
    }
}

/// The most characters a page shows: each is an element of the page, and
/// browsers crawl past this many.
pub const MAX_CHARS: usize = 100_000;

/// The most activations (characters × layers × units) a page holds: about
/// 70 MB of page.
pub const MAX_VALUES: usize = 10_000_000;

/// A character as the page shows it: a word list's START marker as ▸ on
/// a new line (after the first word), its END marker as ■, anything else
/// as itself.
fn shown(c: char, first: bool) -> String {
    match c {
        START if !first => format!("\n{}", glyph(c)),
        START | END => glyph(c),
        c => c.to_string(),
    }
}

/// The 5 most likely next characters after `logits`, with probabilities
/// rounded to 3 decimals.
fn top_five(logits: &[f32], vocab: &CharVocab) -> Vec<(String, f32)> {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let e: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f32 = e.iter().sum();
    let mut order: Vec<usize> = (0..e.len()).collect();
    order.sort_by(|&a, &b| e[b].total_cmp(&e[a]));
    order
        .iter()
        .take(5)
        .map(|&i| {
            (
                shown(vocab.char(i as u32).unwrap_or('?'), true),
                ((e[i] / sum) * 1000.0).round() / 1000.0,
            )
        })
        .collect()
}

/// Write the page for `input` (its first `max_chars` characters; for a
/// word list, each word from its START marker, the markers counted) to
/// `out`, which must be named `.html` (or `.htm`). Pages past
/// [`MAX_CHARS`] characters or [`MAX_VALUES`] activations are refused.
pub fn write_page(
    net: &Net<f32>,
    vocab: &CharVocab,
    input: &Input,
    max_chars: usize,
    out: &Path,
) -> Result<()> {
    let html = out
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"));
    if !html {
        return Err(Error::Config(format!(
            "{}: the activation viewer is a web page; name it .html",
            out.display()
        )));
    }
    let seqs = input.sequences(vocab)?;
    let words = input.is_words();
    let n = seqs
        .iter()
        .map(|s| s.inputs.len())
        .sum::<usize>()
        .min(max_chars);
    if n < 2 {
        return Err(Error::Data("the text needs at least two characters".into()));
    }
    let c = net.config();
    let (layers, width) = (c.layers, c.stack().output_size());
    let per_char = layers.saturating_mul(width).max(1);
    let most = MAX_CHARS.min(MAX_VALUES / per_char).max(2);
    if n > most {
        return Err(Error::Config(format!(
            "a page of {n} characters is more than a browser can show with this model ({layers} × {width} activations each); use --max-chars {most} or less"
        )));
    }
    let mut acts: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(n); layers];
    let mut top5 = Vec::with_capacity(n);
    let mut read: Vec<u32> = Vec::with_capacity(n);
    for seq in &seqs {
        let want = (n - read.len()).min(seq.inputs.len());
        if want == 0 {
            break;
        }
        // A word runs whole, as in training; running text only as far as needed.
        let steps = if words {
            &seq.inputs[..]
        } else {
            &seq.inputs[..want]
        };
        run(net, steps, words, |ws, range| {
            let keep = range.end.min(want).saturating_sub(range.start);
            for (l, a) in acts.iter_mut().enumerate() {
                a.extend(ws.layer_outputs(l).chunks_exact(width).take(keep).map(|u| {
                    u.iter()
                        .map(|x| (x * 1000.0).round() / 1000.0)
                        .collect::<Vec<f32>>()
                }));
            }
            top5.extend(
                ws.outputs()
                    .chunks_exact(vocab.len())
                    .take(keep)
                    .map(|logits| top_five(logits, vocab)),
            );
            Ok(())
        })?;
        read.extend_from_slice(&seq.inputs[..want]);
    }
    let chars: Vec<char> = read.iter().map(|&t| vocab.char(t).unwrap_or('?')).collect();
    // Position in a word counts from its START, as from a line's start.
    let lines: Vec<char> = chars
        .iter()
        .map(|&c| if c == START { '\n' } else { c })
        .collect();
    let feats = features(&lines);
    let selective = FEATURES
        .iter()
        .zip(&feats)
        .map(|(name, f)| {
            let mut units: Vec<Selective> = (0..layers)
                .flat_map(|l| (0..width).map(move |u| (l, u)))
                .map(|(l, u)| {
                    let col: Vec<f32> = acts[l].iter().map(|row| row[u]).collect();
                    (l, u, (correlation(&col, f) * 1000.0).round() / 1000.0)
                })
                .collect();
            units.sort_by(|a, b| b.2.abs().total_cmp(&a.2.abs()));
            // A feature the text never varies says nothing about any unit.
            let constant = f.iter().all(|&x| x == f[0]);
            units.truncate(if constant { 0 } else { 5 });
            (name.to_string(), units)
        })
        .collect();
    let page = Page {
        text: chars
            .iter()
            .enumerate()
            .map(|(i, &c)| shown(c, i == 0))
            .collect(),
        acts,
        top5,
        selective,
    };
    let json = serde_json::to_string(&page)
        .map_err(|e| Error::Config(e.to_string()))?
        .replace("</", "<\\/");
    let html = TEMPLATE.replace("__DATA__", &json);
    write_atomic(out, html.as_bytes())
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>recur: inside the network</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
#controls { margin-bottom: 1em; }
#text { font-family: monospace; font-size: 15px; line-height: 1.6; white-space: pre-wrap; max-width: 70em; }
#text span { cursor: default; }
#side { position: fixed; right: 1.5em; top: 1.5em; width: 18em; background: #fafafa; border: 1px solid #ccc; padding: 0.8em; }
#selective li { cursor: pointer; } #selective li:hover { text-decoration: underline; }
#selftest { display: none; }
</style>
</head>
<body>
<h2>Inside the network</h2>
<div id="controls">
layer <select id="layer"></select>
unit <input id="unit" type="number" min="0" value="0" style="width: 5em">
<span id="range"></span>
</div>
<div id="side">
<b>next character</b> (hover the text)
<ol id="preds"><li>-</li></ol>
<b>selective units</b> (click to show)
<div id="selective"></div>
</div>
<div id="text"></div>
<pre id="selftest"></pre>
<script>
const DATA = __DATA__;
const textEl = document.getElementById("text");
const layerEl = document.getElementById("layer");
const unitEl = document.getElementById("unit");
const predsEl = document.getElementById("preds");
const spans = DATA.text.map((c, i) => {
  const s = document.createElement("span");
  s.textContent = c;
  s.dataset.i = i;
  s.addEventListener("mouseover", () => showPreds(i));
  textEl.appendChild(s);
  return s;
});
DATA.acts.forEach((_, l) => { const o = document.createElement("option"); o.value = l; o.textContent = l; layerEl.appendChild(o); });
unitEl.max = DATA.acts[0][0].length - 1;
document.getElementById("range").textContent = "(0-" + unitEl.max + ")";
function colour(v) {
  const a = Math.min(1, Math.abs(v));
  return v >= 0 ? "rgba(220,40,40," + a.toFixed(3) + ")" : "rgba(40,90,220," + a.toFixed(3) + ")";
}
function paint() {
  const l = +layerEl.value, u = Math.max(0, Math.min(+unitEl.value, +unitEl.max));
  DATA.acts[l].forEach((row, i) => { spans[i].style.background = colour(row[u]); spans[i].title = "layer " + l + " unit " + u + ": " + row[u]; });
}
function showPreds(i) {
  predsEl.innerHTML = "";
  DATA.top5[i].forEach(([c, p]) => {
    const li = document.createElement("li");
    li.textContent = JSON.stringify(c) + "  " + (100 * p).toFixed(1) + "%";
    predsEl.appendChild(li);
  });
}
function pick(l, u) { layerEl.value = l; unitEl.value = u; paint(); }
const sel = document.getElementById("selective");
DATA.selective.forEach(([name, units]) => {
  const h = document.createElement("div"); h.textContent = name; sel.appendChild(h);
  const ul = document.createElement("ul");
  if (units.length === 0) { const li = document.createElement("li"); li.textContent = "(not in this text)"; ul.appendChild(li); }
  units.forEach(([l, u, r]) => { const li = document.createElement("li"); li.textContent = "layer " + l + " unit " + u + " (r = " + r + ")"; li.addEventListener("click", () => pick(l, u)); ul.appendChild(li); });
  sel.appendChild(ul);
});
layerEl.addEventListener("change", paint);
unitEl.addEventListener("input", paint);
paint();
if (location.hash === "#selftest") {
  const k = Math.min(3, spans.length - 1);
  const before = spans.map(s => s.style.background).join("|");
  pick(DATA.acts.length - 1, Math.min(1, +unitEl.max));
  const after = spans.map(s => s.style.background).join("|");
  const predsBefore = predsEl.textContent;
  spans[k].dispatchEvent(new MouseEvent("mouseover", { bubbles: true }));
  document.getElementById("selftest").textContent = JSON.stringify({
    unitChanged: before !== after, unit: unitEl.value, layer: layerEl.value,
    hoverShown: predsEl.children.length === 5 && predsEl.textContent !== predsBefore, predictions: predsEl.textContent,
    requests: performance.getEntriesByType("resource").length,
  });
}
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_follow_quotes_brackets_spaces_and_lines() {
        let text: Vec<char> = "a \"b\" (c)\nde".chars().collect();
        let [q, b, s, col] = features(&text);
        assert_eq!(q, [0., 0., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(b, [0., 0., 0., 0., 0., 0., 1., 1., 0., 0., 0., 0.]);
        assert_eq!(s, [0., 1., 0., 0., 0., 1., 0., 0., 0., 0., 0., 0.]);
        assert_eq!(col, [1., 2., 3., 4., 5., 6., 7., 8., 9., 0., 1., 2.]);
    }

    #[test]
    fn correlation_of_lines() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((correlation(&x, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-6);
        assert!((correlation(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-6);
        assert_eq!(correlation(&x, &[5.0; 4]), 0.0);
    }
}
