//! Every `dev.envc.*` annotation and label envc writes, and the ref names of base entries,
//! defined once. The image-spec's own annotations (`org.opencontainers.image.*`) are the OCI
//! library's (`crate::oci`).

/// The revision number, as decimal text.
pub const REVISION: &str = "dev.envc.revision";
/// The spec digest (`sha256:…`) the revision was built from: an index annotation and an image
/// config label.
pub const SPEC_DIGEST: &str = "dev.envc.spec.digest";
/// The previous revision's number; absent on revision 1.
pub const PARENT: &str = "dev.envc.parent";
/// On a rollback revision: the revision that was latest when the rollback was made.
pub const ROLLED_BACK_FROM: &str = "dev.envc.rolled-back-from";
/// On a rollback revision: the revision whose content it carries.
pub const ROLLBACK_TO: &str = "dev.envc.rollback-to";
/// On a base entry: the base's name as the spec wrote it.
pub const BASE_NAME: &str = "dev.envc.base.name";
/// On a base entry pulled from a registry: the repository it came from (`REGISTRY/REPO`), so a
/// push to the same registry can mount its blobs.
pub const BASE_SOURCE: &str = "dev.envc.base.source";
/// The `--template` inputs a revision was rendered with (JSON).
pub const PROVENANCE: &str = "dev.envc.provenance";
/// The envc version, an image config label.
pub const VERSION: &str = "dev.envc.version";
/// On an image baked from a runtime env: the runtime env's digest (label and annotation).
pub const RUNTIME_ENV_DIGEST: &str = "dev.envc.runtime-env.digest";
/// On an image baked from a runtime env with a local working directory: its Ray URI (label).
pub const WORKING_DIR_URI: &str = "dev.envc.working-dir.uri";

/// Base entries are named `envc.base/sha256-<manifest hex>` (environment names have no `/`,
/// so a base ref never collides with a revision's `NAME:REV`).
pub const BASE_REF_PREFIX: &str = "envc.base/sha256-";

/// The ref name of the base entry for `manifest`.
pub fn base_ref(manifest: &crate::types::digest::Digest) -> String {
    format!("{BASE_REF_PREFIX}{}", manifest.hex())
}
/// The sha256 of the Dockerfile an engine built the revision from.
pub const DOCKERFILE_DIGEST: &str = "dev.envc.dockerfile.digest";
/// The engine that built the revision and its version (`podman 4.3.1`).
pub const ENGINE: &str = "dev.envc.engine";
/// The build that made the revision (`envc logs` finds its log by it).
pub const BUILD_ID: &str = "dev.envc.build.id";
/// On a revision imported with `envc import`: the canonical plan of its spec (the image itself
/// is kept byte for byte, so the plan cannot be in a metadata layer).
pub const PLAN: &str = "dev.envc.plan";
/// On a revision built with `--lock`: the lock's inputs digest.
pub const LOCK_DIGEST: &str = "dev.envc.lock.digest";
/// On a revision built with `--lock`: the locked versions per ecosystem, canonical JSON
/// (`{"debian":{"jq":"1.6-2.1"},"pip":{"six":"1.16.0"}}`), which `show` and `diff` name.
pub const LOCKED_PACKAGES: &str = "dev.envc.lock.packages";
/// On a revision built with `--lock`: the digests of its hermetic layers (JSON array); the
/// layers above them, if any, an engine built from the post-build commands.
pub const HERMETIC_LAYERS: &str = "dev.envc.hermetic.layers";
/// On a revision built with `--lock` and post-build commands: the base the lock was made for
/// (`NAME@sha256:…`); the revision's own base is the hermetic image the engine built on.
pub const LOCK_BASE: &str = "dev.envc.lock.base";
