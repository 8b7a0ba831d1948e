//! `envc schema`: a JSON Schema of the spec for editors (YAML language servers). The types here
//! exist only to describe the format; parsing never goes through them (it needs spans and
//! style information serde cannot give).

use schemars::JsonSchema;
use std::collections::BTreeMap;

/// An Anyscale cluster-environment spec (standard form or BYOD form), as compiled by envc.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ClusterEnvironment {
    Standard(Standard),
    Byod(Byod),
}

/// The standard form: an Anyscale base image plus packages and commands.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Standard {
    /// An Anyscale base image: `anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm` with a
    /// version tag, e.g. `anyscale/ray:2.9.0-py310`.
    #[schemars(regex(pattern = r"^[^\s]+$"))]
    base_image: String,
    /// Environment variables for the build and at run time. `$NAME`/`${NAME}` refer to earlier
    /// variables or the base image's; `$$` is a literal `$`.
    #[serde(default)]
    env_vars: Option<BTreeMap<String, EnvValue>>,
    /// Debian packages installed with apt-get (as root).
    #[serde(default)]
    debian_packages: Option<Vec<String>>,
    #[serde(default)]
    python: Option<Python>,
    /// Shell commands run in order at the end of the build, as the image user.
    #[serde(default)]
    post_build_cmds: Option<Vec<String>>,
}

/// Python packages.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Python {
    /// PEP 508 requirements or pip URL forms (`git+https://…#egg=name`, a wheel URL).
    #[serde(default)]
    pip_packages: Option<Vec<String>>,
    /// conda MatchSpecs.
    #[serde(default)]
    conda_packages: Option<Vec<String>>,
}

/// The BYOD form: your own image.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Byod {
    /// Any image reference: `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]`.
    docker_image: String,
    /// The Ray version in the image: `X.Y.Z`, `X.Y.ZrcN` or `nightly`.
    #[schemars(regex(pattern = r"^([0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?|nightly)$"))]
    ray_version: String,
    #[serde(default)]
    env_vars: Option<BTreeMap<String, EnvValue>>,
    /// The name of a secret with registry credentials (never the credentials).
    #[serde(default)]
    registry_login_secret: Option<String>,
}

/// A string; a plain decimal integer is accepted with a warning.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EnvValue {
    String(String),
    Integer(i64),
}

/// The schema as pretty JSON.
pub fn json() -> String {
    let schema = schemars::schema_for!(ClusterEnvironment);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
