//! Runtime building blocks executed by compiled models.
pub mod fused;
