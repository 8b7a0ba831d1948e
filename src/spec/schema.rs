//! `envc schema`: a JSON Schema of the spec for editors (YAML language servers). The types here
//! exist only to describe the format; parsing never goes through them (it needs spans and
//! style information serde cannot give).

use schemars::gen::SchemaGenerator;
use schemars::schema::Schema;
use schemars::JsonSchema;
use std::collections::BTreeMap;

/// One line, no NUL/CR/LF (E022), not empty (E024).
const SINGLE_LINE: &str = r"^[^\u0000\r\n]+$";
/// A package entry: a single line that does not start with `-` (E033).
const PACKAGE: &str = r"^[^\u0000\r\n\-][^\u0000\r\n]*$";

/// A Debian entry: a package entry that does not end with `-`, which apt-get reads as
/// "remove" (E030).
const DEBIAN: &str = r"^[^\u0000\r\n\-]([^\u0000\r\n]*[^\u0000\r\n\-])?$";

fn from_json(v: serde_json::Value) -> Schema {
    serde_json::from_value(v).unwrap_or(Schema::Bool(true))
}

fn packages(_: &mut SchemaGenerator) -> Schema {
    from_json(serde_json::json!({
        "type": ["array", "null"],
        "items": {"type": "string", "pattern": PACKAGE},
    }))
}

fn debian(_: &mut SchemaGenerator) -> Schema {
    from_json(serde_json::json!({
        "type": ["array", "null"],
        "items": {"type": "string", "pattern": DEBIAN},
    }))
}

fn commands(_: &mut SchemaGenerator) -> Schema {
    from_json(serde_json::json!({
        "type": ["array", "null"],
        "items": {"type": "string", "pattern": r"^[^\u0000\r]*\S[^\u0000\r]*$"},
    }))
}

fn env_vars(_: &mut SchemaGenerator) -> Schema {
    from_json(serde_json::json!({
        "type": ["object", "null"],
        "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
        "additionalProperties": {
            "description": "A string (`$NAME`/`${NAME}` refer to variables, `$$` is `$`); a plain decimal integer is accepted with a warning.",
            "anyOf": [
                {"type": "string", "pattern": r"^[^\u0000\r\n]*$"},
                {"type": "integer"}
            ]
        },
    }))
}

fn single_line(_: &mut SchemaGenerator) -> Schema {
    from_json(serde_json::json!({"type": "string", "pattern": SINGLE_LINE}))
}

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
    #[schemars(regex(pattern = r"^\S+$"))]
    base_image: String,
    /// Environment variables for the build and at run time. `$NAME`/`${NAME}` refer to earlier
    /// variables or the base image's; `$$` is a literal `$`.
    #[serde(default)]
    #[schemars(schema_with = "env_vars")]
    env_vars: Option<BTreeMap<String, String>>,
    /// Debian packages installed with apt-get (as root).
    #[serde(default)]
    #[schemars(schema_with = "debian")]
    debian_packages: Option<Vec<String>>,
    #[serde(default)]
    python: Option<Python>,
    /// Shell commands run in order at the end of the build, as the image user; an item may be
    /// a multi-line block.
    #[serde(default)]
    #[schemars(schema_with = "commands")]
    post_build_cmds: Option<Vec<String>>,
}

/// Python packages.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Python {
    /// PEP 508 requirements or pip URL forms (`git+https://…#egg=name`, a wheel URL).
    #[serde(default)]
    #[schemars(schema_with = "packages")]
    pip_packages: Option<Vec<String>>,
    /// conda MatchSpecs.
    #[serde(default)]
    #[schemars(schema_with = "packages")]
    conda_packages: Option<Vec<String>>,
}

/// The BYOD form: your own image.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Byod {
    /// Any image reference: `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]`.
    #[schemars(regex(pattern = r"^\S+$"))]
    docker_image: String,
    /// The Ray version in the image: `X.Y.Z`, `X.Y.ZrcN` or `nightly`.
    #[schemars(regex(pattern = r"^([0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?|nightly)$"))]
    ray_version: String,
    /// Environment variables set on top of the image.
    #[serde(default)]
    #[schemars(schema_with = "env_vars")]
    env_vars: Option<BTreeMap<String, String>>,
    /// The name of a secret with registry credentials (never the credentials).
    #[serde(default)]
    #[schemars(schema_with = "single_line")]
    registry_login_secret: Option<String>,
}

/// The schema as pretty JSON.
pub fn json() -> String {
    let mut schema =
        // A derived schema of string-keyed maps: serialising it cannot fail.
        serde_json::to_value(schemars::schema_for!(ClusterEnvironment)).expect("the schema serialises");
    // Top-level `x-` keys are extension fields envc ignores (a place for YAML anchors); serde's
    // attributes cannot say so, so the two closed forms get the pattern here.
    for form in ["Standard", "Byod"] {
        if let Some(def) = schema["definitions"][form].as_object_mut() {
            def.insert(
                "patternProperties".into(),
                serde_json::json!({"^x-": {"description": "An extension field, ignored: a place for YAML anchors."}}),
            );
        }
    }
    let mut s = serde_json::to_string_pretty(&schema).expect("a JSON value serialises");
    s.push('\n');
    s
}
