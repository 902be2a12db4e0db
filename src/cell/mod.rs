//! Recurrent cells, one per file, each with its forward and backward side by
//! side over a whole `(T, B, ·)` block.

pub mod rnn;

pub use crate::backend::Activation;

/// The input of a sequence block, laid out time-major.
#[derive(Clone, Copy, Debug)]
pub enum SeqInput<'a, S> {
    /// Token ids `(T, B)`, each below the input size: a one-hot input done as
    /// a gather of weight columns.
    Tokens(&'a [u32]),
    /// Dense vectors `(T, B, I)`.
    Dense(&'a [S]),
}
