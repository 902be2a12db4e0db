//! Models: a recurrent cell plus an output head, with a flat parameter
//! buffer, a reusable workspace, and forward/backward over `(T, B, ·)` blocks.

pub mod params;
pub mod vanilla;

pub use params::{ParamLayout, ParamSpec};
pub use vanilla::{Init, Readout, RnnConfig, RnnWorkspace, VanillaRnn};
