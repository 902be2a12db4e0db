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
    /// Heads of a block-diagonal recurrent weight `(G·H, H)`: each of its
    /// `G` square blocks holds `heads` blocks on its diagonal and zeros
    /// elsewhere, which stay zero (see [`ParamSpec::structural_zero`]); 1
    /// for any other tensor.
    pub heads: usize,
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

    /// Whether value `i` (row-major, from the tensor's start) lies off the
    /// diagonal blocks of a block-diagonal weight (see
    /// [`ParamSpec::heads`]): always zero.
    pub fn structural_zero(&self, i: usize) -> bool {
        if self.heads <= 1 {
            return false;
        }
        let h = self.shape.last().copied().unwrap_or(1).max(1);
        let size = (h / self.heads).max(1);
        let (row, col) = (i / h, i % h);
        (row % h) / size != col / size
    }

    /// What is wrong with `values` (the tensor's values) if one of its
    /// structural zeros is not zero: "is block-diagonal (4 heads) but
    /// holds 0.5 at (0, 7), off the heads' blocks", for the caller to put
    /// after the tensor's name.
    pub fn off_block_value<S: PartialEq + Default + std::fmt::Display>(
        &self,
        values: &[S],
    ) -> Option<String> {
        let h = self.shape.last().copied().unwrap_or(1).max(1);
        let i =
            (0..values.len()).find(|&i| self.structural_zero(i) && values[i] != S::default())?;
        Some(format!(
            "is block-diagonal ({} heads) but holds {} at ({}, {}), off the heads' blocks",
            self.heads,
            values[i],
            i / h,
            i % h
        ))
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
        self.push_blocks(name, shape, 1)
    }

    /// Append a block-diagonal recurrent weight of `heads` heads (see
    /// [`ParamSpec::heads`]; 1: dense) and return its range.
    pub fn push_blocks(
        &mut self,
        name: impl Into<String>,
        shape: &[usize],
        heads: usize,
    ) -> Range<usize> {
        let spec = ParamSpec {
            name: name.into(),
            shape: shape.to_vec(),
            offset: self.len,
            heads,
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

    /// Zero every structural zero of `values` (a whole flat buffer; see
    /// [`ParamSpec::structural_zero`]): values drawn at random for a test
    /// then make a model of this layout.
    pub fn keep_structure<S: Default>(&self, values: &mut [S]) {
        for spec in self.specs.iter().filter(|s| s.heads > 1) {
            for (i, v) in values[spec.range()].iter_mut().enumerate() {
                if spec.structural_zero(i) {
                    *v = S::default();
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_diagonal_weight_names_a_value_off_its_blocks() {
        // (4·8, 8) with 4 heads of 2 units: (0, 1) is on the first block,
        // (0, 7) off it; row 9 is unit 1 of gate 1, in head 0 again.
        let mut layout = ParamLayout::new();
        layout.push_blocks("w", &[32, 8], 4);
        let spec = &layout.specs()[0];
        let mut values = vec![0.0f32; 256];
        values[1] = 0.25;
        values[9 * 8 + 1] = 0.25;
        assert_eq!(spec.off_block_value(&values), None);
        values[7] = 0.5;
        assert_eq!(
            spec.off_block_value(&values).as_deref(),
            Some("is block-diagonal (4 heads) but holds 0.5 at (0, 7), off the heads' blocks")
        );
        let mut random = vec![1.0f32; 256];
        layout.keep_structure(&mut random);
        assert_eq!(spec.off_block_value(&random), None);
        assert_eq!(random.iter().filter(|&&v| v == 1.0).count(), 4 * 8 * 2);
    }
}
