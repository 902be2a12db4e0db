//! Models: recurrent layers plus an output head, with a flat parameter
//! buffer, a reusable workspace, and forward/backward over `(T, B, ·)`
//! blocks.

pub mod config;
pub mod forecaster;
pub mod memory;
pub mod net;
pub mod params;
mod predict;
pub mod recurrent;
pub mod seq2seq;
pub mod stack;

pub use config::{Init, NetConfig, Readout, RnnConfig};
pub use forecaster::{ForecastConfig, Forecaster, RegressionLoss};
pub use net::{Net, NetWorkspace, Progress, VanillaRnn};
pub use params::{ParamLayout, ParamSpec};
pub use recurrent::{Recurrent, RecurrentGrads};
pub use stack::{Batch, Stack, StackConfig, StackWorkspace};
