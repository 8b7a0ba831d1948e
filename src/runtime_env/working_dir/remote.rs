//! The name Ray gives a remote `working_dir` or `py_modules` URI, from Python's `urlparse` as
//! Python 3.11 splits a URI: the local cache name and the package name Ray's checks test.

use super::options::Error;
use crate::runtime_env::generation::RayRules;
use crate::runtime_env::python::py_suffix;
use sha1::Digest as _;

/// Python's `urllib.parse.urlparse(uri)`: scheme (lower case), netloc and path, as Python 3.11
/// splits them (leading C0 controls and spaces stripped, tabs and newlines removed; `;params`
/// cut from the last path segment only for schemes that use them, such as `https`).
fn urlparse(uri: &str) -> Result<(String, String, String), Error> {
    let url: String = uri
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut scheme = String::new();
    let mut rest = url.as_str();
    if let Some(i) = url.find(':') {
        let head = &url[..i];
        let scheme_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
        if i > 0
            && url.starts_with(|c: char| c.is_ascii_alphabetic())
            && head.chars().all(scheme_char)
        {
            scheme = head.to_ascii_lowercase();
            rest = &url[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
        if netloc.contains('[') != netloc.contains(']') {
            return Err(Error::Uri("Invalid IPv6 URL".to_string()));
        }
    }
    let mut path = rest.split('#').next().unwrap_or("");
    path = path.split('?').next().unwrap_or("");
    const USES_PARAMS: &[&str] = &[
        "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip",
        "sips", "mms", "sftp", "tel",
    ];
    if USES_PARAMS.contains(&scheme.as_str()) {
        let from = path.rfind('/').unwrap_or(0);
        if let Some(i) = path[from..].find(';') {
            path = &path[..from + i];
        }
    }
    Ok((scheme, netloc.to_string(), path.to_string()))
}

/// The name part of Ray's `parse_uri` for a URI with a remote protocol (the suffix unchecked),
/// under `ray`'s rules.
pub(crate) fn remote_package_name(uri: &str, ray: RayRules) -> Result<String, Error> {
    if ray.local_uri {
        return remote_package_name_2_60(uri);
    }
    remote_package_name_2_40(uri)
}

/// Ray 2.60's `parse_uri` for a remote protocol: a wheel keeps the last segment of the parsed
/// path; anything else is `<protocol>_<sha1 of the URI><extension>`, the extension a compound
/// archive one (`.tar.gz`, `.tar.bz2`, `.tar.xz`) or `Path(netloc + path).suffix`.
fn remote_package_name_2_60(uri: &str) -> Result<String, Error> {
    let (scheme, netloc, path) = urlparse(uri)?;
    if !["http", "https", "s3", "gs", "azure", "abfss", "file"].contains(&scheme.as_str()) {
        // `gcs://` and the internal protocols: the name is the netloc.
        return Ok(netloc);
    }
    if path.ends_with(".whl") {
        return Ok(path.rsplit('/').next().unwrap_or("").to_string());
    }
    let raw = format!("{netloc}{path}");
    let suffix = [".tar.gz", ".tar.bz2", ".tar.xz"]
        .into_iter()
        .find(|e| raw.ends_with(e))
        .unwrap_or_else(|| py_suffix(&raw));
    let digest: String = sha1::Sha1::digest(uri.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok(format!("{scheme}_{digest}{suffix}"))
}

fn remote_package_name_2_40(uri: &str) -> Result<String, Error> {
    let (scheme, netloc, path) = urlparse(uri)?;
    Ok(if uri.ends_with(".whl") {
        // Ray tests and splits the URI as given, not the parsed path.
        uri.rsplit('/').next().unwrap_or(uri).to_string()
    } else {
        let mut name = format!("{scheme}_{netloc}{path}");
        for c in ['/', ':', '@', '+', ' '] {
            name = name.replace(c, "_");
        }
        let dots = name.matches('.').count();
        let mut seen = 0;
        name.chars()
            .map(|c| {
                if c == '.' {
                    seen += 1;
                    if seen < dots {
                        return '_';
                    }
                }
                c
            })
            .collect()
    })
}

/// Ray's local cache name for a remote `working_dir` or `py_modules` URI (`parse_uri`).
/// Ray 2.40: `s3://bucket/dir/file.zip` → `s3_bucket_dir_file.zip`; a URI ending in `.whl`
/// keeps its file name (`…/pkg-1.0-py3-none-any.whl` → `pkg-1.0-py3-none-any.whl`), as pip
/// needs the wheel's name; the scheme must be one of Ray 2.40's remote protocols and the name
/// must end in `.zip` or `.whl`. Ray 2.60: `<protocol>_<sha1 of the URI><ext>`, the protocols
/// add `http`, `azure` and `abfss`, and the name may also end in `.tar.gz`, `.tgz`, `.tar.xz`.
pub fn remote_cache_name(uri: &str, ray: RayRules) -> Result<String, Error> {
    let (scheme, _, _) = urlparse(uri)?;
    let (remote, internal, protocols): (&[&str], &[&str], &str) = if ray.local_uri {
        (
            &["http", "https", "s3", "gs", "azure", "abfss", "file"],
            &["gcs", "conda", "pip", "uv", "local"],
            "['GCS', 'CONDA', 'PIP', 'UV', 'HTTP', 'HTTPS', 'S3', 'GS', 'AZURE', 'ABFSS', 'FILE', 'LOCAL']",
        )
    } else {
        (
            &["s3", "gs", "https", "file"],
            &["gcs", "conda", "pip", "uv"],
            "['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE']",
        )
    };
    if internal.contains(&scheme.as_str()) {
        return Err(Error::Uri(format!(
            "\"{uri}\" is not a remote URI (remote protocols: {})",
            remote.join(", ")
        )));
    }
    if !remote.contains(&scheme.as_str()) {
        return Err(Error::Uri(format!(
            "Invalid protocol for runtime_env URI \"{uri}\". Supported protocols: {protocols}. Original error: '{scheme}' is not a valid Protocol"
        )));
    }
    let name = remote_package_name(uri, ray)?;
    if ray.tar_packages {
        const FORMATS: &[&str] = &[".zip", ".whl", ".tar.gz", ".tgz", ".tar.xz"];
        if !FORMATS.iter().any(|e| name.ends_with(e)) {
            let display = uri.split('?').next().unwrap_or(uri);
            return Err(Error::Uri(format!(
                "Only .zip, .whl, .tar.gz, .tgz, .tar.xz files are supported for py_modules URIs; got {display}."
            )));
        }
    } else if !name.ends_with(".zip") && !name.ends_with(".whl") {
        return Err(Error::Uri(
            "Only .zip or .whl files supported for remote URIs.".to_string(),
        ));
    }
    Ok(name)
}
