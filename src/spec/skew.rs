//! Version skew between an Anyscale base image and what is installed on it, found at compile
//! time from the tag alone: a `ray` pin other than the base's Ray (W020), a wheel or marker for
//! a Python the base does not have (W021), a CUDA build of PyTorch the base does not provide
//! (W022), and a runtime env's `ray` pin that its cluster env's base lacks (W023, for
//! `runtime-env check --cluster-env`). This module owns those warnings and the facts they
//! compare: the Ray, Python and CUDA a tag stands for, and the versions pip and conda entries,
//! wheel file names and PyTorch index URLs name. It reports only what it is sure of: a base
//! whose Ray is not a release (`nightly`, `latest`), a tag with no Python, or a `-gpu` tag whose
//! CUDA envc cannot tell, is not compared.
//!
//! Decisions: a tag without an accelerator is a CPU image for `anyscale/ray` and a GPU one for
//! `anyscale/ray-ml` (Ray's image docs: "no tag: aliases to -cpu tagged images for ray, and
//! aliases to -gpu tagged images for ray-ml"). `-gpu` is an alias for one `-cuNNN` image, and
//! no table of which is at hand (not in Anyscale's tag lists, where `-gpu` tags are ray-ml's and
//! have no `-cuNNN` siblings to compare with): a `-gpu` base is not compared, rather than
//! guessed.

use crate::diag::codes;
use crate::diag::Diagnostics;
use crate::input::source::Span;
use crate::runtime_env::parse::{Conda, RuntimeEnv};
use crate::spec::validate::BaseImage;
use crate::spec::{Spanned, Standard};
use crate::types::image_ref::{Family, RayVersion};
use pep508_rs::pep440_rs::Version;
use pep508_rs::{
    MarkerEnvironment, MarkerEnvironmentBuilder, Requirement, VerbatimUrl, VersionOrUrl,
};
use regex_lite::Regex;
use serde_json::Value;
use std::str::FromStr;
use std::sync::OnceLock;

/// The packages PyTorch's wheel index builds per CUDA version.
const TORCH_PACKAGES: &[&str] = &["torch", "torchvision", "torchaudio"];

/// The Python versions a marker is tried against to tell "excludes the base's Python" from
/// "never true here" (an `extra == …` or `sys_platform == "darwin"` marker is not about Python).
const PYTHONS: &[&str] = &[
    "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14",
];

/// What the base image's tag says about its accelerator.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Accelerator {
    Cpu,
    /// The CUDA version of a `-cuNNN` tag (`118`).
    Cuda(String),
    /// A GPU image whose CUDA envc cannot tell.
    Unknown,
}

/// The facts of a base image that skew is measured against.
struct Base {
    ray: Option<Version>,
    ray_text: String,
    /// `3.10`.
    python: Option<String>,
    accelerator: Accelerator,
    image: String,
    /// `platform_machine`: `aarch64` for `-aarch64` tags, else `x86_64`.
    machine: &'static str,
}

/// Warns about each entry of `s` that does not fit `base` (Anyscale bases only).
pub(crate) fn check(base: &BaseImage, s: &Standard, diags: &mut Diagnostics) {
    let Some(tag) = &base.anyscale else { return };
    let (ray, ray_text) = match &tag.ray {
        RayVersion::Release { version } => (Version::from_str(version).ok(), version.clone()),
        _ => (None, String::new()),
    };
    let b = Base {
        ray,
        ray_text,
        python: tag.python.clone(),
        accelerator: accelerator(base),
        image: base.reference.to_string(),
        machine: if tag.aarch64 { "aarch64" } else { "x86_64" },
    };
    for item in &s.pip_packages {
        pip_entry(&b, item, diags);
    }
    if b.ray.is_some() {
        for item in &s.conda_packages {
            if conda_ray_excludes(&item.value, &b.ray_text) {
                let what = format!("`{}`", item.value);
                warn_ray(&b, item, (0, item.value.len()), &what, diags);
            }
        }
    }
    for item in &s.post_build_cmds {
        for (at, cuda, what) in pytorch_in_command(&item.value) {
            cuda_skew(&b, item, at, &cuda, &what, diags);
        }
    }
}

fn accelerator(base: &BaseImage) -> Accelerator {
    let Some(tag) = &base.anyscale else {
        return Accelerator::Unknown;
    };
    match tag.accelerator.as_deref() {
        Some("cpu") => Accelerator::Cpu,
        Some(cu) if cu.starts_with("cu") => Accelerator::Cuda(cu[2..].to_string()),
        None if tag.family == Family::Ray => Accelerator::Cpu,
        // `-gpu`, and ray-ml/ray-llm without a suffix: see the module's decisions.
        _ => Accelerator::Unknown,
    }
}

/// `cu121` for `121`.
fn cu(v: &str) -> String {
    format!("cu{v}")
}

fn pip_entry(b: &Base, item: &Spanned<String>, diags: &mut Diagnostics) {
    let text = item.value.as_str();
    let whole = (0, text.len());
    let req = Requirement::<VerbatimUrl>::from_str(text).ok();
    // A bare URL (`https://…/ray-2.9.0-cp310-…whl`) is not PEP 508; pip takes it as it is.
    let url = match &req {
        Some(r) => match &r.version_or_url {
            Some(VersionOrUrl::Url(u)) => Some(u.to_string()),
            _ => None,
        },
        None if text.contains("://") => Some(text.to_string()),
        None => None,
    };
    let wheel = url.as_deref().and_then(Wheel::from_url);
    let name = match (&req, &wheel) {
        (Some(r), _) => r.name.to_string(),
        (None, Some(w)) => w.name.clone(),
        (None, None) => return,
    };

    // W020: ray pinned to another version than the base's.
    if name == "ray" {
        if let (Some(base_ray), Some(r)) = (&b.ray, &req) {
            if let Some(VersionOrUrl::VersionSpecifier(specs)) = &r.version_or_url {
                if !specs.is_empty() && !specs.contains(base_ray) {
                    warn_ray(b, item, whole, &format!("`{text}`"), diags);
                }
            }
        }
        if let (Some(base_ray), Some(w)) = (&b.ray, &wheel) {
            if Version::from_str(&w.version).is_ok_and(|v| v != *base_ray) {
                warn_ray(b, item, whole, &format!("a ray {} wheel", w.version), diags);
            }
        }
    }

    // W021: a wheel for another Python, or a marker that skips the base's Python.
    if let (Some(py), Some(w)) = (&b.python, &wheel) {
        if !w.fits_python(py) {
            let tags = w.python_tags.join(".");
            diags
                .warning(
                    codes::PYTHON_SKEW,
                    item.sub_span(0, text.len()),
                    format!(
                        "this wheel is built for `{tags}`, but `{}` has Python {py}",
                        b.image
                    ),
                )
                .help(format!(
                    "pip refuses it; use the wheel tagged `cp{}`, or a base image with the wheel's Python",
                    py.replace('.', "")
                ));
        }
    }
    if let (Some(py), Some(r), Some(semi)) = (&b.python, &req, text.find(';')) {
        let i = semi + 1 + (text[semi + 1..].len() - text[semi + 1..].trim_start().len());
        let skipped_on =
            |p: &str| linux_cpython(p, b.machine).is_some_and(|e| !r.marker.evaluate(&e, &[]));
        if skipped_on(py) && PYTHONS.iter().any(|p| !skipped_on(p)) {
            diags
                .warning(
                    codes::PYTHON_SKEW,
                    item.sub_span(i, text.len()),
                    format!(
                        "the marker excludes Python {py}, the Python of `{}`: pip skips `{name}` without a word",
                        b.image
                    ),
                )
                .help(format!(
                    "widen the marker to include Python {py}, or remove the entry if it is not needed"
                ));
        }
    }

    // W022: a CUDA build of PyTorch the base does not provide.
    if TORCH_PACKAGES.contains(&name.as_str()) {
        let local: Option<String> = match (&req, &wheel) {
            (_, Some(w)) => w.cuda.clone(),
            (Some(r), None) => match &r.version_or_url {
                Some(VersionOrUrl::VersionSpecifier(specs)) => specs.iter().find_map(|s| {
                    s.version()
                        .local()
                        .iter()
                        .find_map(|seg| cuda_of(&seg.to_string()))
                }),
                _ => None,
            },
            (None, None) => None,
        };
        if let Some(c) = local {
            cuda_skew(b, item, whole, &c, &format!("`{name}`"), diags);
        }
    }
}

fn warn_ray(
    b: &Base,
    item: &Spanned<String>,
    at: (usize, usize),
    what: &str,
    diags: &mut Diagnostics,
) {
    let v = &b.ray_text;
    diags
        .warning(
            codes::RAY_PIN_SKEW,
            item.sub_span(at.0, at.1),
            format!(
                "{what} does not match ray {v}, the Ray of base image `{}`",
                b.image
            ),
        )
        .help(format!(
            "the base image has ray {v} already: pin `ray=={v}` or drop the pin; to change Ray, change `base_image`"
        ));
}

/// W023: each `ray` pin of the runtime env `env` (in `pip`, `uv` or an inline or file `conda`
/// environment, its `pip:` list included) that excludes `ray_version`, the Ray of the cluster
/// env's base image `image`. An entry is located where its text is written inside its field,
/// else at the field (packages read from a requirements file).
pub(crate) fn runtime_env_ray_pins(
    env: &RuntimeEnv,
    ray_version: &str,
    image: &str,
    diags: &mut Diagnostics,
) {
    let Ok(base) = Version::from_str(ray_version) else {
        return;
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    // (field, entry, is a conda MatchSpec)
    let mut entries: Vec<(&str, String, bool)> = Vec::new();
    if let Some(pip) = &env.pip {
        entries.extend(pip.packages.iter().map(|p| ("pip", p.clone(), false)));
    }
    if let Some(uv) = env.unknown.get("uv") {
        let list = if uv.is_object() {
            uv.get("packages")
        } else {
            Some(uv)
        };
        entries.extend(strings(list).into_iter().map(|p| ("uv", p, false)));
    }
    let conda = match &env.conda {
        Some(Conda::Inline(v)) | Some(Conda::File { content: v, .. }) => v.get("dependencies"),
        _ => None,
    };
    for dep in conda.and_then(Value::as_array).into_iter().flatten() {
        match dep {
            Value::String(d) => entries.push(("conda", d.clone(), true)),
            Value::Object(m) => entries.extend(
                strings(m.get("pip"))
                    .into_iter()
                    .map(|p| ("conda", p, false)),
            ),
            _ => {}
        }
    }
    let text = diags.file().text.clone();
    for (field, entry, is_conda) in entries {
        let entry = entry.trim();
        let excludes = if is_conda {
            conda_ray_excludes(entry, ray_version)
        } else {
            pip_ray_excludes(entry, &base)
        };
        if !excludes {
            continue;
        }
        let Some(&fspan) = env.spans.get(field) else {
            continue;
        };
        let span = text
            .get(fspan.start..fspan.end)
            .and_then(|t| t.find(entry))
            .map_or(fspan, |i| {
                Span::new(fspan.start + i, fspan.start + i + entry.len())
            });
        diags
            .warning(
                codes::RTE_RAY_PIN,
                span,
                format!(
                    "`{entry}` in `{field}` does not match ray {ray_version}, the Ray of the cluster env's base image `{image}`"
                ),
            )
            .help(format!(
                "Ray installs it over the image's ray {ray_version}, which the cluster runs: remove the entry, or pin ray {ray_version}"
            ));
    }
}

/// A pip entry naming `ray` whose specifiers (or wheel file name) exclude `base`.
fn pip_ray_excludes(entry: &str, base: &Version) -> bool {
    let entry = entry.split(" #").next().unwrap_or(entry).trim();
    match Requirement::<VerbatimUrl>::from_str(entry) {
        Ok(r) if r.name.as_ref() == "ray" => match &r.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specs)) => {
                !specs.is_empty() && !specs.contains(base)
            }
            Some(VersionOrUrl::Url(u)) => ray_wheel_differs(&u.to_string(), base),
            None => false,
        },
        Ok(_) => false,
        Err(_) => entry.contains("://") && ray_wheel_differs(entry, base),
    }
}

fn ray_wheel_differs(url: &str, base: &Version) -> bool {
    Wheel::from_url(url)
        .is_some_and(|w| w.name == "ray" && Version::from_str(&w.version).is_ok_and(|v| v != *base))
}

/// A conda MatchSpec for `ray` (conda-forge: `ray-core`, `ray-default`, `ray-all`) whose
/// version excludes `base`.
fn conda_ray_excludes(entry: &str, base: &str) -> bool {
    use rattler_conda_types::{MatchSpec, ParseStrictness};
    let (Ok(spec), Ok(v)) = (
        MatchSpec::from_str(entry, ParseStrictness::Lenient),
        rattler_conda_types::Version::from_str(base),
    ) else {
        return false;
    };
    let named_ray = spec.name.as_exact().is_some_and(|n| {
        matches!(
            n.as_normalized(),
            "ray" | "ray-core" | "ray-default" | "ray-all"
        )
    });
    named_ray && spec.version.as_ref().is_some_and(|vs| !vs.matches(&v))
}

/// The marker environment of the ray images (CPython on Linux, `machine` `x86_64` or `aarch64`)
/// with Python `py` (`3.10`).
fn linux_cpython(py: &str, machine: &str) -> Option<MarkerEnvironment> {
    let full = format!("{py}.0");
    MarkerEnvironment::try_from(MarkerEnvironmentBuilder {
        implementation_name: "cpython",
        implementation_version: &full,
        os_name: "posix",
        platform_machine: machine,
        platform_python_implementation: "CPython",
        platform_release: "",
        platform_system: "Linux",
        platform_version: "",
        python_full_version: &full,
        python_version: py,
        sys_platform: "linux",
    })
    .ok()
}

/// `121` from `cu121`.
fn cuda_of(local: &str) -> Option<String> {
    let n = local.strip_prefix("cu")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.to_string())
}

fn cuda_skew(
    b: &Base,
    item: &Spanned<String>,
    at: (usize, usize),
    cuda: &str,
    what: &str,
    diags: &mut Diagnostics,
) {
    let (message, help) = match &b.accelerator {
        Accelerator::Unknown => return,
        Accelerator::Cuda(have) if have == cuda => return,
        Accelerator::Cpu => (
            format!(
                "{what} is a CUDA {} build, but `{}` is a CPU image",
                cu(cuda),
                b.image
            ),
            "use the CPU build (`https://download.pytorch.org/whl/cpu`), or a GPU base image (`-cuNNN`)".to_string(),
        ),
        Accelerator::Cuda(have) => (
            format!(
                "{what} is a CUDA {} build, but `{}` provides {}",
                cu(cuda),
                b.image,
                cu(have)
            ),
            format!(
                "use the `{}` build of PyTorch, or a base image tagged `-{}`",
                cu(have),
                cu(cuda)
            ),
        ),
    };
    diags
        .warning(codes::CUDA_SKEW, item.sub_span(at.0, at.1), message)
        .help(help);
}

/// Each PyTorch CUDA build a command names: an index URL `download.pytorch.org/whl/cuNNN`, or a
/// pin `torch==2.1.0+cuNNN` (also `torchvision`, `torchaudio`): its byte range, `NNN` and what it
/// is.
fn pytorch_in_command(cmd: &str) -> Vec<((usize, usize), String, String)> {
    static R: OnceLock<Regex> = OnceLock::new();
    let re = R.get_or_init(|| {
        Regex::new(
            r"(?:https?://)?download\.pytorch\.org/whl/(?:nightly/|test/)?cu([0-9]{2,4})\b|\b(torch|torchvision|torchaudio)==[0-9][0-9A-Za-z.]*\+cu([0-9]{2,4})\b",
        )
        .expect("static regex")
    });
    re.captures_iter(cmd)
        .filter_map(|c| {
            let m = c.get(0)?;
            let (cuda, what) = match (c.get(1), c.get(2), c.get(3)) {
                (Some(n), _, _) => (n.as_str(), "a PyTorch wheel index".to_string()),
                (None, Some(name), Some(n)) => (n.as_str(), format!("`{}`", name.as_str())),
                _ => return None,
            };
            Some(((m.start(), m.end()), cuda.to_string(), what))
        })
        .collect()
}

/// The parts of a wheel's file name (PEP 427) that skew is about.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wheel {
    /// Normalised (`-`, lower case).
    name: String,
    version: String,
    python_tags: Vec<String>,
    abi3: bool,
    /// `121` from a `+cu121` local version or a `/whl/cu121/` index path.
    cuda: Option<String>,
}

impl Wheel {
    fn from_url(url: &str) -> Option<Wheel> {
        let path = url.split(['#', '?']).next()?;
        let file = path.rsplit('/').next()?;
        let file = file.replace("%2B", "+").replace("%2b", "+");
        let stem = file.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&parts.len()) {
            return None;
        }
        let n = parts.len();
        let (version, local) = match parts[1].split_once('+') {
            Some((v, l)) => (v.to_string(), Some(l)),
            None => (parts[1].to_string(), None),
        };
        let cuda = local.and_then(cuda_of).or_else(|| {
            path.split('/')
                .rev()
                .nth(1)
                .filter(|_| path.contains("download.pytorch.org/"))
                .and_then(cuda_of)
        });
        Some(Wheel {
            name: parts[0].to_ascii_lowercase().replace('_', "-"),
            version,
            python_tags: parts[n - 3].split('.').map(str::to_string).collect(),
            abi3: parts[n - 2].split('.').any(|a| a == "abi3"),
            cuda,
        })
    }

    /// Whether pip on CPython `py` (`3.10`) would install it. Only `cpXY` tags are judged: a
    /// `py3` or `py2.py3` wheel fits any Python 3.
    fn fits_python(&self, py: &str) -> bool {
        let Some(minor) = py.strip_prefix("3.").and_then(|m| m.parse::<u32>().ok()) else {
            return true;
        };
        self.python_tags.iter().any(|t| {
            let Some(m) = t.strip_prefix("cp3").and_then(|m| m.parse::<u32>().ok()) else {
                return true;
            };
            m == minor || (self.abi3 && m <= minor)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names() {
        let w = Wheel::from_url(
            "https://download.pytorch.org/whl/cu121/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl",
        )
        .unwrap();
        assert_eq!(w.name, "torch");
        assert_eq!(w.version, "2.1.0");
        assert_eq!(w.cuda.as_deref(), Some("121"));
        assert!(!w.fits_python("3.10") && w.fits_python("3.11"));
        let w = Wheel::from_url(
            "https://s3-us-west-2.amazonaws.com/ray-wheels/latest/ray-3.0.0.dev0-cp310-cp310-manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!((w.name.as_str(), w.version.as_str()), ("ray", "3.0.0.dev0"));
        assert_eq!(w.cuda, None);
        let w = Wheel::from_url("https://x/pkg-1.0-cp38-abi3-manylinux_x86_64.whl").unwrap();
        assert!(w.fits_python("3.10") && !w.fits_python("3.7"));
        let w = Wheel::from_url("https://x/pkg-1.0-py2.py3-none-any.whl").unwrap();
        assert!(w.fits_python("3.10"));
        assert!(Wheel::from_url("https://x/pkg-1.0.tar.gz").is_none());
    }

    #[test]
    fn index_urls() {
        let found = pytorch_in_command(
            "pip install torch --index-url https://download.pytorch.org/whl/cu118 && pip install -f https://download.pytorch.org/whl/cpu x torchvision==0.16.0+cu121 mytorch==1+cu1",
        );
        let found: Vec<(&str, &str)> = found
            .iter()
            .map(|(_, c, w)| (c.as_str(), w.as_str()))
            .collect();
        assert_eq!(
            found,
            [("118", "a PyTorch wheel index"), ("121", "`torchvision`")]
        );
    }
}
