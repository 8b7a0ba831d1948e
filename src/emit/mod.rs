//! Backends: turn a [`Plan`](crate::plan::Plan) into something a builder consumes.

pub mod bakefile;
pub mod dockerfile;

/// Which builder a Dockerfile is written for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Target {
    /// BuildKit, docker, buildah/podman, kaniko: the full Dockerfile language.
    #[default]
    Docker,
    /// `anyscale image build`: a Containerfile in Anyscale's subset (`FROM` an Anyscale base,
    /// `ENV`, `RUN`; see [`dockerfile`]'s module docs), checked against the spec by
    /// [`crate::spec::anyscale`].
    Anyscale,
}
