//! A model's parameters live in one flat buffer; a [`ParamLayout`] names the
//! views into it (`rnn.weight_hh_l0`, `fc.bias`, ...). Gradients and optimizer
//! moments are flat buffers of the same length and layout, so optimizers,
//! clipping, gradient checks and checkpoints each work on one slice.

use std::ops::Range;

use crate::backend::ViewMut;

/// One named tensor inside a flat parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// PyTorch-style name, e.g. `rnn.weight_ih_l0`.
    pub name: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Where the tensor starts in the flat buffer.
    pub offset: usize,
}

impl ParamSpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its range in the flat buffer.
    pub fn range(&self) -> Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// The ordered list of named tensors that make up a flat buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamLayout {
    specs: Vec<ParamSpec>,
    len: usize,
}

impl ParamLayout {
    /// An empty layout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append a tensor and return its range in the flat buffer.
    pub fn push(&mut self, name: impl Into<String>, shape: &[usize]) -> Range<usize> {
        let spec = ParamSpec {
            name: name.into(),
            shape: shape.to_vec(),
            offset: self.len,
        };
        self.len += spec.len();
        let r = spec.range();
        self.specs.push(spec);
        r
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the layout holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tensors, in buffer order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The tensor called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }
}

/// Split `data` (a slice, or any backend's exclusive view) into consecutive
/// exclusive pieces of the given sizes: the tensors of one part of a flat
/// buffer, e.g. a cell's `[w_ih, w_hh, b_ih, b_hh]`.
///
/// # Panics
/// If the sizes add up to more than `data.len()` (a layout bug).
pub fn split_mut<const N: usize, V: ViewMut>(data: V, sizes: [usize; N]) -> [V; N] {
    let mut rest = Some(data);
    sizes.map(|n| {
        let (head, tail) = rest.take().expect("one piece left per size").split(n);
        rest = Some(tail);
        head
    })
}

/// Exclusive views of the consecutive tensors at `ranges` (each starting
/// where the previous ends) of a whole flat buffer `data`.
pub fn tensors_mut<const N: usize, V: ViewMut>(data: V, ranges: [&Range<usize>; N]) -> [V; N] {
    let start = ranges.first().map_or(0, |r| r.start);
    let end = ranges.last().map_or(0, |r| r.end);
    split_mut(data.sub(start..end), ranges.map(Range::len))
}
