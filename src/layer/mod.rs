//! Non-recurrent layers: the linear output head and the losses.

pub mod attention;
pub mod linear;
pub mod loss;
