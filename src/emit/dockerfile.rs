//! The Dockerfile backend: plan → template context → minijinja → text.
//!
//! Every user string reaches the template already escaped for where it lands: env values by
//! [`env_quoted`], package entries POSIX single-quoted, exec forms serialised
//! by `serde_json` (so a newline is the two characters `\n`, never a line break). The template
//! runs with strict undefined variables and no auto-escaping.
//!
//! Post-build commands: a single-line command that cannot be misread by the Dockerfile parser
//! is written in shell form (`RUN cmd`, run by the `SHELL` with pipefail). Anything else — a
//! multi-line block, a trailing `\` (a line continuation), `<<` (a BuildKit heredoc), a leading
//! `[` (an exec form) — is written in exec form, `RUN ["/bin/bash", "-e", "-o", "pipefail",
//! "-c", "…"]`, which every builder understands (BuildKit, docker's legacy builder,
//! buildah/podman of any version, kaniko). `--heredoc` writes multi-line commands as BuildKit
//! heredocs instead (`RUN <<'ENVC_EOF'`: the script is an argument of the shell, never its
//! stdin), with a delimiter that does not occur as a line of the body.
//!
//! `--for anyscale` ([`Target::Anyscale`]) writes a Containerfile for `anyscale image build`
//! from its own template (`templates/Containerfile.j2`) with the same escaping: only `FROM`
//! (the base exactly as written, never a mirror), `ENV` and `RUN` — the smallest subset that
//! expresses a cluster environment, assumed to be within Anyscale's documented one (the README
//! says why and from which page). There is no `USER`, so a
//! step the plan runs as root runs under `sudo` (the ray images' passwordless sudo for user
//! `ray`, with hadolint's DL3004 stated on the step); there is no `SHELL`, so every post-build
//! command is an exec form naming bash — `["/bin/bash", "-o", "pipefail", "-c", "…"]`, what
//! `SHELL` plus shell form runs, or the `-e` exec form where the Docker backend uses it. No
//! parser directive, heredoc or cache mount: [`Options::heredoc`] and [`Options::cache_mounts`]
//! are refused.

use super::Target;
use crate::plan::{Plan, Step};
use crate::types::env::{EnvValue, Segment};
use serde::Serialize;
use std::path::Path;

/// The embedded default template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../templates/Dockerfile.j2");
pub const TEMPLATE_NAME: &str = "Dockerfile.j2";
/// The embedded template of `--for anyscale`.
pub const CONTAINERFILE_TEMPLATE: &str = include_str!("../../templates/Containerfile.j2");

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Write multi-line post-build commands as BuildKit heredocs.
    pub heredoc: bool,
    /// Add BuildKit cache mounts for apt, conda and pip (see [`APT_CACHE`]).
    pub cache_mounts: bool,
    /// Registry host for Docker Hub base images (from envc.toml).
    pub mirror: Option<String>,
    /// A template replacing the embedded one (from `--templates DIR`).
    pub template: Option<String>,
    /// The builder written for.
    pub target: Target,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Dockerfile template failed: {0:#}")]
    Template(#[from] minijinja::Error),
    #[error("{0}")]
    Facts(String),
    /// An option the target's language lacks (the CLI refuses it as a usage error first).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Reads `DIR/Dockerfile.j2` for `--templates DIR`.
pub fn load_template(dir: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(dir.join(TEMPLATE_NAME))
}

#[derive(Serialize)]
struct Context {
    version: &'static str,
    digest: String,
    syntax_directive: bool,
    from: String,
    shell: Option<String>,
    steps: Vec<StepCtx>,
    /// `USER` to end with when the last step ran as root.
    final_user: Option<String>,
}

#[derive(Serialize, Default)]
struct StepCtx {
    kind: &'static str,
    /// `USER` to switch to before this step, when it differs from the current one.
    user: Option<String>,
    vars: Vec<VarCtx>,
    packages: Vec<String>,
    mounts: String,
    /// Commands before `apt-get update` (creating the cache's directories).
    apt_prepare: String,
    /// ` -o …` options of both `apt-get` commands.
    apt_options: String,
    /// ` -o …` options of `apt-get install` only.
    apt_install_options: String,
    /// `VAR=value ` for the `conda install` command.
    conda_env: String,
    clean: bool,
    no_cache: bool,
    conda: String,
    pip: String,
    pragmas: Vec<String>,
    /// `sudo ` before each command of a root step (`--for anyscale`, which has no `USER`).
    sudo: String,
    instruction: String,
    heredoc: Option<HeredocCtx>,
}

#[derive(Serialize)]
struct VarCtx {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct HeredocCtx {
    delimiter: String,
    body: String,
}

/// The options of [`EXEC_SHELL`] as the first line of a heredoc script.
const HEREDOC_PRELUDE: &str = "set -e -o pipefail";

/// `--cache-mounts`: where apt keeps downloaded debs and package lists between builds.
///
/// The cache is mounted at a path no image has (BuildKit removes the empty mount point after
/// the step) and apt is pointed at it with `-o`, for that step only: nothing of the base is
/// hidden, and the step leaves exactly what it leaves without the option (the same
/// `rm -rf /var/lib/apt/lists/*` runs). Debian's and Ubuntu's `docker-clean` (in every
/// Anyscale base) deletes `/var/cache/apt/archives/*.deb` after each dpkg run and after
/// `update` — a cache mounted at `/var/cache/apt` kept nothing; the globs do not reach here.
pub const APT_CACHE: &str = "/var/cache/envc-apt";
/// `--cache-mounts`: conda's first package directory for the `conda install` step (the image's
/// own `pkgs` stays second, so packages the base already has are still linked from there).
pub const CONDA_CACHE: &str = "/var/cache/envc-conda";

const SHELL: [&str; 4] = ["/bin/bash", "-o", "pipefail", "-c"];
const EXEC_SHELL: [&str; 5] = ["/bin/bash", "-e", "-o", "pipefail", "-c"];

/// serde_json formatting for exec forms: Docker's usual `["a", "b"]` spacing, and every
/// backslash written as `\u005c`. Both are plain JSON to BuildKit, but hadolint's exec-form
/// parser misreads `\\` before a quote or another backslash (it then lints the line as shell
/// and reports SC1072), so no `\\` pair is ever emitted.
struct ExecFormFormatter;

impl serde_json::ser::Formatter for ExecFormFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        match escape {
            serde_json::ser::CharEscape::ReverseSolidus => w.write_all(b"\\u005c"),
            other => serde_json::ser::CompactFormatter.write_char_escape(w, other),
        }
    }
}

/// An exec-form JSON array, made by serde_json (so quotes and newlines are always escaped).
fn json_array(items: &[&str]) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, ExecFormFormatter);
    // Strings into a Vec: neither serialising nor the UTF-8 of serde_json's output can fail.
    serde::Serialize::serialize(items, &mut ser).expect("strings serialise");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// The body of `ENV K="…"` for `value` — the one escaping rule for env values, which BuildKit,
/// buildah and hadolint all read as the same string.
///
/// References are written `${NAME}` (braced: BuildKit's `$NAME` would also take a following
/// letter such as `é` into the name). Inside the quotes `"` and a literal `$` are escaped as
/// `\"` and `\$`. A run of literal backslashes directly before a `"` or at the end of the
/// value is written outside the quotes: close the quote, `\\` per backslash, reopen
/// (`C:\` → `"C:"\\""`). BuildKit and buildah read an escaped backslash alike inside and
/// outside quotes, but hadolint cannot parse one followed by a `"` inside a quoted word (and
/// then lints nothing in the file); elsewhere inside the quotes it reads `\\` fine.
pub(crate) fn env_quoted(value: &EnvValue) -> String {
    let mut s = String::new();
    let segments = value.segments();
    for (i, seg) in segments.iter().enumerate() {
        let text = match seg {
            Segment::Ref(n) => {
                s.push_str(&format!("${{{}}}", n.as_str()));
                continue;
            }
            Segment::Literal(l) => l,
        };
        // A literal is never followed by another literal; after it comes a reference
        // (`$`) or the closing quote.
        let before_quote_at_end = i + 1 == segments.len();
        let chars: Vec<char> = text.chars().collect();
        let mut k = 0;
        while k < chars.len() {
            let c = chars[k];
            if c == '\\' {
                let run = chars[k..].iter().take_while(|&&c| c == '\\').count();
                let next = chars.get(k + run);
                let before_quote = next == Some(&'"') || (next.is_none() && before_quote_at_end);
                if before_quote {
                    s.push('"');
                    s.push_str(&"\\\\".repeat(run));
                    s.push('"');
                } else {
                    s.push_str(&"\\\\".repeat(run));
                }
                k += run;
                continue;
            }
            if matches!(c, '"' | '$') {
                s.push('\\');
            }
            s.push(c);
            k += 1;
        }
    }
    s
}

/// POSIX single-quoting: the one shell-quoting rule for every word the Dockerfile hands a shell (package entries). Entries are
/// free of control characters, so the result is always one line.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether a one-line command can be written as `RUN cmd` and mean exactly `cmd`: BuildKit
/// trims a line's white space (Go's `unicode.IsSpace`: form feeds and vertical tabs too), so
/// a command with white space at either end, or a control character, keeps its bytes only
/// in the exec form (found by the `spec` fuzz target).
fn shell_form_safe(cmd: &str) -> bool {
    cmd.trim() == cmd
        && !cmd.chars().any(|c| c.is_control() && c != '\t')
        && !cmd.contains(['\n', '\r'])
        && !cmd.trim_end().ends_with('\\')
        && !cmd.contains("<<")
        && !cmd.trim_start().starts_with(['[', '-'])
        && !cmd.trim().is_empty()
}

fn uses_sudo(cmd: &str) -> bool {
    cmd.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '/'))
        .any(|w| w == "sudo" || w.ends_with("/sudo"))
}

/// The script of `RUN <<'DELIM'` for a multi-line command: what the exec form runs, as one
/// argument of the `SHELL`, never on a shell's stdin.
///
/// BuildKit (dockerfile2llb `dispatchRun`) runs a `RUN` whose whole command is one heredoc as
/// `SHELL + [script]`, so the script's stdin stays the build's — unlike `RUN bash <<EOF`,
/// which feeds the script to bash's stdin, where a `cat` or `read` in it swallows the lines
/// after it. A script starting with `#!` would instead be executed as a file by that
/// interpreter: the prelude (the exec form's `-e -o pipefail`; the SHELL has no `-e`) comes
/// first, so a `#!` line stays the comment it is to `bash -c`.
fn heredoc_body(command: &str) -> String {
    format!("{HEREDOC_PRELUDE}\n{}", command.trim_end_matches('\n'))
}

/// A delimiter that is not a line of `body`: among `lines + 1` candidates one is always free.
fn delimiter(body: &str) -> String {
    let lines: std::collections::HashSet<&str> = body.lines().map(str::trim).collect();
    (0..=lines.len())
        .map(|i| match i {
            0 => "ENVC_EOF".to_string(),
            i => format!("ENVC_EOF_{i}"),
        })
        .find(|d| !lines.contains(d.as_str()))
        .unwrap_or_else(|| "ENVC_EOF".to_string())
}

/// The image a `FROM` line names for the base `reference`: on the mirror when one is set and
/// the image is Docker Hub's.
pub(crate) fn from_image(reference: &str, mirror: Option<&str>) -> String {
    let Some(mirror) = mirror else {
        return reference.to_string();
    };
    // Docker Hub images: no registry component, or `docker.io` / `index.docker.io`.
    let first = reference.split('/').next().unwrap_or("");
    let has_registry =
        reference.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    if !has_registry {
        format!("{mirror}/{reference}")
    } else if let Some(rest) = reference
        .strip_prefix("docker.io/")
        .or_else(|| reference.strip_prefix("index.docker.io/"))
    {
        format!("{mirror}/{rest}")
    } else {
        reference.to_string()
    }
}

/// Renders the Dockerfile for `plan`.
pub fn render(plan: &Plan, options: &Options) -> Result<String, Error> {
    let anyscale = options.target == Target::Anyscale;
    if anyscale && (options.heredoc || options.cache_mounts || options.template.is_some()) {
        return Err(Error::Unsupported(
            "an Anyscale Containerfile has no heredocs or cache mounts and its own template",
        ));
    }
    let facts = plan.image.as_ref();
    let (uid, gid, home) = facts.map_or((0, 0, "/root"), |f| (f.uid, f.gid, f.home.as_str()));
    // A plan that needs a fact it does not carry was not made by `lower` from a valid spec.
    let missing = |what: &str| Error::Facts(format!("the plan has {what} steps but no {what}"));
    let mut current_uid: Option<u32> = None;
    let mut steps = Vec::new();
    let mut uses_heredoc = false;
    for step in &plan.steps {
        let step_uid = match step {
            Step::Env { .. } => None,
            Step::Debian { uid, .. }
            | Step::Conda { uid, .. }
            | Step::Pip { uid, .. }
            | Step::Run { uid, .. } => Some(*uid),
        };
        let mut ctx = StepCtx::default();
        if anyscale {
            // No `USER` in the subset: root's steps use the image user's passwordless sudo.
            if step_uid == Some(0) && uid != 0 {
                ctx.sudo = "sudo ".into();
                ctx.pragmas.push("# hadolint ignore=DL3004".into());
            }
        } else if let Some(u) = step_uid {
            if current_uid != Some(u) {
                ctx.user = Some(if u == 0 {
                    "root".to_string()
                } else {
                    u.to_string()
                });
                current_uid = Some(u);
            }
        }
        let cache = |target: &str, owned: bool| {
            if !options.cache_mounts {
                return String::new();
            }
            let owner = if owned {
                format!(",uid={uid},gid={gid}")
            } else {
                String::new()
            };
            format!("--mount=type=cache,target={target},sharing=locked{owner} ")
        };
        match step {
            Step::Env { vars } => {
                ctx.kind = "env";
                ctx.vars = vars
                    .iter()
                    .map(|v| VarCtx {
                        name: v.name.as_str().to_string(),
                        value: env_quoted(&v.value),
                    })
                    .collect();
            }
            Step::Debian { packages, .. } => {
                ctx.kind = "debian";
                ctx.packages = packages.iter().map(|p| shell_quote(p.as_str())).collect();
                ctx.mounts = cache(APT_CACHE, false);
                if options.cache_mounts {
                    ctx.apt_prepare = format!(
                        "mkdir -p {APT_CACHE}/archives/partial {APT_CACHE}/lists/partial \\\n && "
                    );
                    ctx.apt_options = format!(
                        " -o Dir::Cache={APT_CACHE}/ -o Dir::State::Lists={APT_CACHE}/lists/"
                    );
                    // apt-get keeps debs by default; a base may have turned that off.
                    ctx.apt_install_options = " -o APT::Keep-Downloaded-Packages=true".into();
                }
            }
            Step::Conda { packages, .. } => {
                ctx.kind = "conda";
                ctx.packages = packages.iter().map(|p| shell_quote(p.as_str())).collect();
                let prefix = facts.and_then(|f| f.conda_prefix.as_deref());
                let prefix = prefix.ok_or_else(|| missing("conda"))?;
                ctx.conda = format!("{prefix}/bin/conda");
                // Not a mount over `{prefix}/pkgs`: that would hide the base's packages.
                ctx.mounts = cache(CONDA_CACHE, true);
                if options.cache_mounts {
                    ctx.conda_env = format!("CONDA_PKGS_DIRS={CONDA_CACHE},{prefix}/pkgs ");
                }
                // Cleans the image's package directory, with or without the cache (which
                // `conda clean` does not see: CONDA_PKGS_DIRS is set for the install only).
                ctx.clean = true;
            }
            Step::Pip { packages, .. } => {
                ctx.kind = "pip";
                ctx.packages = packages.iter().map(|p| shell_quote(p.as_str())).collect();
                ctx.pip = facts.and_then(|f| f.pip()).ok_or_else(|| missing("pip"))?;
                ctx.mounts = cache(&format!("{home}/.cache/pip"), true);
                ctx.no_cache = !options.cache_mounts;
            }
            Step::Run { command, .. } => {
                ctx.kind = "run";
                if uses_sudo(command) && ctx.pragmas.is_empty() {
                    // The ray images' documented convention: user `ray` has passwordless sudo.
                    ctx.pragmas.push("# hadolint ignore=DL3004".into());
                }
                let multiline = command.contains('\n');
                if anyscale {
                    // Exec form always (no `SHELL`): what the Docker backend's line runs.
                    let mut argv: Vec<&str> = Vec::new();
                    if !ctx.sudo.is_empty() {
                        argv.push("sudo");
                    }
                    if shell_form_safe(command) {
                        argv.extend(SHELL);
                    } else {
                        argv.extend(EXEC_SHELL);
                    }
                    argv.push(command);
                    ctx.instruction = json_array(&argv);
                } else if options.heredoc && multiline {
                    let body = heredoc_body(command);
                    let delimiter = delimiter(&body);
                    uses_heredoc = true;
                    ctx.heredoc = Some(HeredocCtx { delimiter, body });
                } else if shell_form_safe(command) {
                    ctx.instruction = command.to_string();
                } else {
                    let mut argv: Vec<&str> = EXEC_SHELL.to_vec();
                    argv.push(command);
                    ctx.instruction = json_array(&argv);
                }
            }
        }
        steps.push(ctx);
    }
    let needs_shell = plan.steps.iter().any(|s| !matches!(s, Step::Env { .. }));
    // The image ends as its user, never as root (a Debian-only spec would otherwise).
    let final_user =
        (current_uid == Some(0) && facts.is_some() && uid != 0).then(|| uid.to_string());
    let context = if anyscale {
        // Anyscale resolves its bases by name: never a mirror (spec::anyscale checked the name).
        Context {
            version: env!("CARGO_PKG_VERSION"),
            digest: plan.digest().to_string(),
            syntax_directive: false,
            from: plan.base.reference.clone(),
            shell: None,
            steps,
            final_user: None,
        }
    } else {
        Context {
            version: env!("CARGO_PKG_VERSION"),
            digest: plan.digest().to_string(),
            syntax_directive: options.cache_mounts || uses_heredoc,
            from: from_image(&plan.base.reference, options.mirror.as_deref()),
            shell: needs_shell.then(|| json_array(&SHELL)),
            steps,
            final_user,
        }
    };
    // Builtin filters for `--templates` overrides; no auto-escaping (this is not HTML: every
    // string in the context is already escaped for the Dockerfile) and strict undefined.
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let embedded = if anyscale {
        CONTAINERFILE_TEMPLATE
    } else {
        DEFAULT_TEMPLATE
    };
    let source = options.template.as_deref().unwrap_or(embedded);
    env.add_template(TEMPLATE_NAME, source)?;
    let text = env
        .get_template(TEMPLATE_NAME)?
        .render(minijinja::Value::from(minijinja::value::Serde(&context)))?;
    // minijinja drops a template's final newline; a text file ends with exactly one.
    Ok(format!("{}\n", text.trim_end_matches('\n')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a>=1"), "'a>=1'");
        assert_eq!(
            shell_quote("x; python_version<'3'"),
            r"'x; python_version<'\''3'\'''"
        );
    }

    fn quoted(raw: &str) -> String {
        env_quoted(&EnvValue::parse(raw).unwrap())
    }

    #[test]
    fn env_values_escape_quotes_dollars_and_keep_references() {
        assert_eq!(quoted("/opt/x/bin:$PATH"), "/opt/x/bin:${PATH}");
        assert_eq!(quoted(r#"5$$ "q" \n"#), r#"5\$ \"q\" \\n"#);
        assert_eq!(quoted(r#"C:\Users\ray"#), r#"C:\\Users\\ray"#);
    }

    #[test]
    fn issue_7_backslash_runs_before_a_quote_are_written_outside_it() {
        // `SEP: '\\'` used to become `ENV SEP="\\"\\""`, which hadolint cannot parse.
        assert_eq!(quoted(r#"\\"#), r#""\\\\""#);
        assert_eq!(quoted(r#"C:\"#), r#"C:"\\""#);
        assert_eq!(quoted(r#"q\"x"#), r#"q"\\"\"x"#);
        assert_eq!(quoted(r#"q\\"x"#), r#"q"\\\\"\"x"#);
        // Before a reference the run stays inside: `\\$` is not followed by a quote.
        assert_eq!(quoted(r#"\\$A\"#), r#"\\\\${A}"\\""#);
    }

    #[test]
    fn shell_form_rules() {
        assert!(shell_form_safe("pip install -U 'ray[default]'"));
        assert!(!shell_form_safe("echo a \\"));
        assert!(!shell_form_safe("echo a \\  "));
        assert!(!shell_form_safe("cat <<EOF"));
        assert!(!shell_form_safe("[\"x\"]"));
        assert!(!shell_form_safe("a\nb"));
        assert!(!shell_form_safe(
            "--mount=type=bind,source=/,target=/h cat /h/etc/shadow"
        ));
        assert!(!shell_form_safe("  --network=host curl x"));
    }

    #[test]
    fn commands_buildkit_would_trim_or_that_hold_controls_use_the_exec_form() {
        assert!(shell_form_safe("echo a\tb"));
        for cmd in [
            "echo a\x0c",
            "\x0becho a",
            "echo a ",
            " echo a",
            "echo \x15 a",
            "echo a\u{85}",
        ] {
            assert!(!shell_form_safe(cmd), "{cmd:?}");
        }
    }

    #[test]
    fn exec_forms_are_json_without_backslash_pairs() {
        let s = json_array(&["/bin/bash", "-c", "a \"q\" \\\nb\\"]);
        assert_eq!(s, r#"["/bin/bash", "-c", "a \"q\" \u005c\nb\u005c"]"#);
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back[2], "a \"q\" \\\nb\\");
    }

    #[test]
    fn sudo_detection() {
        assert!(uses_sudo("sudo apt-get install -y x"));
        assert!(uses_sudo("echo x | sudo tee /etc/y"));
        assert!(uses_sudo("/usr/bin/sudo ls"));
        assert!(!uses_sudo("pip install pseudorandom"));
    }

    #[test]
    fn delimiters_avoid_body_lines() {
        assert_eq!(delimiter("echo hi"), "ENVC_EOF");
        assert_eq!(delimiter("ENVC_EOF\necho"), "ENVC_EOF_1");
        let all: Vec<String> = (0..1000)
            .map(|i| {
                if i == 0 {
                    "ENVC_EOF".into()
                } else {
                    format!("ENVC_EOF_{i}")
                }
            })
            .collect();
        assert_eq!(delimiter(&all.join("\n")), "ENVC_EOF_1000");
    }

    #[test]
    fn mirrors_apply_to_docker_hub_only() {
        let m = Some("mirror.example.com");
        assert_eq!(
            from_image("anyscale/ray:2.9.0", m),
            "mirror.example.com/anyscale/ray:2.9.0"
        );
        assert_eq!(
            from_image("docker.io/anyscale/ray:2.9.0", m),
            "mirror.example.com/anyscale/ray:2.9.0"
        );
        assert_eq!(
            from_image("localhost/anyscale/ray:2.9.0", m),
            "localhost/anyscale/ray:2.9.0"
        );
        assert_eq!(from_image("ubuntu", m), "mirror.example.com/ubuntu");
    }
}
