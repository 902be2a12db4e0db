//! Reading a model's answers: softmax probabilities of each output row and
//! the most likely class, for classifiers (many-to-one: one row per
//! sequence) and language models (many-to-many: one row per step).

use super::net::{Net, NetWorkspace};
use super::stack::Batch;
use crate::backend::{Backend, View};
use crate::error::Result;
use crate::tensor::Scalar;

impl<S: Scalar, K: Backend<S>> Net<S, K> {
    /// Forward over `batch` (no dropout) and the outputs copied to the host:
    /// what the user asked to see.
    fn outputs_on_host(&self, batch: &Batch<'_, S>, ws: &mut NetWorkspace<S, K>) -> Result<Vec<S>> {
        self.forward_batch(batch, ws, None)?;
        let mut host = vec![S::zero(); ws.outputs().len()];
        self.backend().download(ws.outputs(), &mut host);
        Ok(host)
    }

    /// Softmax probabilities of every output row for `batch` (no dropout):
    /// `(B, V)` for a many-to-one model, `(T, B, V)` time-major for a
    /// many-to-many one. Each row sums to 1.
    ///
    /// ```
    /// use recur::prelude::*;
    /// let config = NetConfig {
    ///     readout: Readout::ManyToOne,
    ///     output_size: 3,
    ///     ..NetConfig::char_lm(CellKind::Gru, 5, 8)
    /// };
    /// let net = Net::<f32>::new(config, Init::Uniform, 0).unwrap();
    /// // Two sequences of length 4, time-major (T, B): [0,1,2,3] and [4,4,4,4].
    /// let tokens = [0, 4, 1, 4, 2, 4, 3, 4];
    /// let batch = Batch::new(SeqInput::Tokens(&tokens), 4, 2);
    /// let p = net.probabilities(&batch, &mut net.workspace()).unwrap();
    /// assert_eq!(p.len(), 2 * 3);
    /// assert!((p[..3].iter().sum::<f32>() - 1.0).abs() < 1e-6);
    /// ```
    pub fn probabilities(
        &self,
        batch: &Batch<'_, S>,
        ws: &mut NetWorkspace<S, K>,
    ) -> Result<Vec<S>> {
        let ys = self.outputs_on_host(batch, ws)?;
        let v = self.config().output_size;
        let mut probs = Vec::with_capacity(ys.len());
        for row in ys.chunks_exact(v) {
            let max = row
                .iter()
                .map(|x| x.f64())
                .fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = row.iter().map(|x| (x.f64() - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            probs.extend(exps.iter().map(|e| S::of(e / sum)));
        }
        Ok(probs)
    }

    /// The most likely class of every output row (the first on ties):
    /// `(B)` for a many-to-one model, `(T, B)` for a many-to-many one.
    pub fn predict(&self, batch: &Batch<'_, S>, ws: &mut NetWorkspace<S, K>) -> Result<Vec<u32>> {
        let ys = self.outputs_on_host(batch, ws)?;
        let v = self.config().output_size;
        Ok(ys
            .chunks_exact(v)
            .map(|row| {
                (0..v).fold(0, |best, i| {
                    if row[i].f64() > row[best].f64() {
                        i
                    } else {
                        best
                    }
                }) as u32
            })
            .collect())
    }
}
