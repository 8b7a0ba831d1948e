//! The one Ray-generation switch: where Ray 1 and Ray 2 differ (validation rules, the working
//! directory's URI hash, what a runtime env isolates), code asks for a [`RayGeneration`].
//! A leaf: it imports nothing, so every part of `runtime_env` can use it.

/// The Ray generation whose rules apply where Ray 1 and Ray 2 differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RayGeneration {
    /// Ray 1.x (the seed's era).
    V1,
    /// Ray 2.x (what clusters run today).
    #[default]
    V2,
}
