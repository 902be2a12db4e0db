//! A recurrent stack's state as `recur.layers` shows it: parts in their
//! natural shapes, moved to and from the flat buffer the model keeps.
//!
//! The model keeps `h` and the cell state's planes, each `(L·D, B, H)`
//! (see `recur::model::Stack`'s docs). For most cells a part is a plane:
//! `h`, the LSTM's `c`, the sLSTM's `c`, `n`, `m`. The mLSTM's planes hold
//! a matrix memory per head (`d = H/4`): its parts are
//!
//! ```text
//! h (L·D, B, H)   C (L·D, B, NH, d, d)   n (L·D, B, NH, d)   m (L·D, B, NH)
//! ```
//!
//! where `C[.., hd, a, j]` multiplies key component `a` and value component
//! `j` (`C' = f C + i k vᵀ`). In the model, a sequence's `C` flattened is
//! spread over the first `d` planes (`H` values each), `n` is the next
//! plane, and each head's `m` fills its `d` columns of the last one.

use recur::cell::CellKind;
use recur::model::StackConfig;

/// Names of a state's parts, in order.
const NAMES: [&str; 4] = ["h", "c", "n", "m"];
/// The mLSTM's (its memory is a matrix, `C`).
const MLSTM_NAMES: [&str; 4] = ["h", "C", "n", "m"];

/// One part of a state: its name, natural shape and the names of its axes.
pub struct Part {
    /// `h`, `c`, `n`, `m` (the mLSTM's matrix memory: `C`).
    pub name: &'static str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its axes' names, for messages.
    pub axes: &'static [&'static str],
}

impl Part {
    /// Its shape with the axes named, for messages:
    /// `(num_layers*num_directions=2, B=3, hidden_size=8)`.
    pub fn described(&self) -> String {
        let axes: Vec<String> = (self.axes.iter().zip(&self.shape))
            .map(|(name, n)| format!("{name}={n}"))
            .collect();
        format!("({})", axes.join(", "))
    }

    /// Values in it.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// The first axis of every part: layers times directions.
const LD: &str = "num_layers*num_directions";
/// The axes of a plane `(L·D, B, H)`.
const PLANE: &[&str] = &[LD, "B", "hidden_size"];

/// Where each value of a model's flat state buffer comes from in the
/// parts: for a given configuration and batch.
pub struct StateLayout {
    /// The parts, in order.
    pub parts: Vec<Part>,
    /// For each value of the flat buffer, the index (into the parts laid
    /// end to end) of the value it holds. Several flat values may hold
    /// the same part value (the mLSTM's `m`); the first of them is the one
    /// read.
    source: Vec<usize>,
}

impl StateLayout {
    /// The layout of `c`'s state for `b` sequences.
    pub fn of(c: &StackConfig, b: usize) -> StateLayout {
        let (n, h) = (c.layers * c.directions(), c.hidden_size);
        let plane = n * b * h;
        let planes = 1 + c.cell.state_width(h);
        let mut layout = StateLayout {
            parts: Vec::new(),
            source: Vec::with_capacity(planes * plane),
        };
        if c.cell.state_per_unit() {
            for name in &NAMES[..planes] {
                layout.parts.push(Part {
                    name,
                    shape: vec![n, b, h],
                    axes: PLANE,
                });
            }
            layout.source.extend(0..planes * plane);
            return layout;
        }
        assert!(
            matches!(c.cell, CellKind::Mlstm),
            "a state by head: the mLSTM's"
        );
        let heads = c.cell.heads();
        let d = h / heads;
        let parts = [
            (vec![n, b, h], PLANE),
            (vec![n, b, heads, d, d], &[LD, "B", "heads", "d", "d"][..]),
            (vec![n, b, heads, d], &[LD, "B", "heads", "d"][..]),
            (vec![n, b, heads], &[LD, "B", "heads"][..]),
        ];
        let starts = [0, plane, plane + plane * d, 2 * plane + plane * d];
        layout.parts = (MLSTM_NAMES.iter().zip(parts))
            .map(|(name, (shape, axes))| Part { name, shape, axes })
            .collect();
        // h, then C's d planes: value (row, col) of plane q is element
        // q·H + col of the row's C (flattened (NH, d, d)).
        layout.source.extend(0..plane);
        for q in 0..d {
            for row in 0..n * b {
                layout
                    .source
                    .extend((0..h).map(|col| starts[1] + row * h * d + q * h + col));
            }
        }
        // n as it is; m from each head's d columns.
        layout.source.extend(starts[2]..starts[2] + plane);
        for row in 0..n * b {
            layout
                .source
                .extend((0..h).map(|col| starts[3] + row * heads + col / d));
        }
        layout
    }

    /// Values in the parts laid end to end.
    fn part_len(&self) -> usize {
        self.parts.iter().map(Part::len).sum()
    }

    /// The parts, end to end, of a flat state (or of its gradient: the
    /// model writes a gradient where it reads a value, the first copy).
    pub fn to_parts(&self, flat: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; self.part_len()];
        let mut seen = vec![false; out.len()];
        for (&src, &v) in self.source.iter().zip(flat) {
            if !seen[src] {
                (out[src], seen[src]) = (v, true);
            }
        }
        out
    }

    /// A flat state from its parts end to end: each value in every place
    /// that holds it.
    pub fn state_from_parts(&self, parts: &[f64]) -> Vec<f64> {
        self.source.iter().map(|&src| parts[src]).collect()
    }

    /// A flat state's gradient from the parts' gradients end to end: in
    /// the first place that holds each value (the one the model reads),
    /// zero in the others.
    pub fn grad_from_parts(&self, parts: &[f64]) -> Vec<f64> {
        let mut seen = vec![false; parts.len()];
        self.source
            .iter()
            .map(|&src| {
                let first = !seen[src];
                seen[src] = true;
                if first { parts[src] } else { 0.0 }
            })
            .collect()
    }
}
