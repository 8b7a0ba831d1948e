//! Software bills of materials of what a lock adds to its base: CycloneDX 1.5 or SPDX 2.3, as
//! JSON. Deterministic: components in the lock's order (sorted), ids derived from the lock's
//! digest (CycloneDX's serial number is a UUID made from it), no wall clock (SPDX requires a
//! creation time: the build epoch).

use super::file::{LockedDeb, LockedWheel, Lockfile};
use serde_json::{json, Value};

/// A purl's version or qualifier value, percent-encoded where purl says (`1:2.0` → `1%3A2.0`).
fn purl_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~' | b'+') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn deb_purl(lock: &Lockfile, d: &LockedDeb) -> String {
    let distro = if lock.base.os_version_id.is_empty() {
        lock.base.os_codename.clone()
    } else {
        format!("{}-{}", lock.base.os_id, lock.base.os_version_id)
    };
    format!(
        "pkg:deb/{}/{}@{}?arch={}&distro={}",
        purl_encode(&lock.base.os_id),
        purl_encode(&d.name),
        purl_encode(&d.version),
        purl_encode(&d.arch),
        purl_encode(&distro)
    )
}

fn wheel_purl(w: &LockedWheel) -> String {
    format!(
        "pkg:pypi/{}@{}",
        purl_encode(&w.name),
        purl_encode(&w.version)
    )
}

/// A UUID (version 5 layout, RFC 4122 variant) from the lock's digest: one lock, one id.
fn uuid(lock: &Lockfile) -> String {
    let d =
        crate::types::digest::Digest::of(format!("envc sbom {}", lock.inputs.digest).as_bytes());
    let hex = d.hex();
    let mut b: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// CycloneDX 1.5 JSON.
pub fn cyclonedx(lock: &Lockfile) -> String {
    let mut components = Vec::new();
    for d in &lock.debs {
        let purl = deb_purl(lock, d);
        components.push(json!({
            "type": "library",
            "bom-ref": purl,
            "name": d.name,
            "version": d.version,
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": d.sha256}],
            "externalReferences": [{"type": "distribution", "url": d.url}],
            "properties": [
                {"name": "envc:ecosystem", "value": "debian"},
                {"name": "envc:installs", "value": d.installs},
                {"name": "envc:requested", "value": d.requested.to_string()},
            ],
        }));
    }
    for w in &lock.wheels {
        let purl = wheel_purl(w);
        components.push(json!({
            "type": "library",
            "bom-ref": purl,
            "name": w.name,
            "version": w.version,
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": w.sha256}],
            "externalReferences": [{"type": "distribution", "url": w.url}],
            "properties": [
                {"name": "envc:ecosystem", "value": "pip"},
                {"name": "envc:installs", "value": w.installs},
                {"name": "envc:requested", "value": w.requested.to_string()},
                {"name": "envc:wheel", "value": w.filename},
            ],
        }));
    }
    pretty(&json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid(lock)),
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "envc", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {
                "type": "container",
                "bom-ref": format!("base:{}", lock.base.digest),
                "name": lock.base.name,
                "version": lock.base.digest,
            },
            "properties": [{"name": "envc:lock-digest", "value": lock.inputs.digest}],
        },
        "components": components,
    }))
}

/// An SPDX id: letters, digits, `.` and `-` only.
fn spdx_id(prefix: &str, name: &str, version: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect()
    };
    format!("SPDXRef-{prefix}-{}-{}", clean(name), clean(version))
}

/// SPDX 2.3 JSON; `created` is the build epoch.
pub fn spdx(lock: &Lockfile, epoch: u64) -> String {
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let mut add = |id: String, name: &str, version: &str, url: &str, sha: &str, purl: String| {
        packages.push(json!({
            "SPDXID": id,
            "name": name,
            "versionInfo": version,
            "downloadLocation": url,
            "filesAnalyzed": false,
            "checksums": [{"algorithm": "SHA256", "checksumValue": sha}],
            "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl}],
        }));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": id,
        }));
    };
    for d in &lock.debs {
        add(
            spdx_id("deb", &d.name, &d.version),
            &d.name,
            &d.version,
            &d.url,
            &d.sha256,
            deb_purl(lock, d),
        );
    }
    for w in &lock.wheels {
        add(
            spdx_id("pypi", &w.name, &w.version),
            &w.name,
            &w.version,
            &w.url,
            &w.sha256,
            wheel_purl(w),
        );
    }
    pretty(&json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("envc lock of {}", lock.base.name),
        "documentNamespace": format!("https://spdx.envc.dev/lock/{}", uuid(lock)),
        "creationInfo": {
            "created": crate::assemble::rfc3339(epoch),
            "creators": [format!("Tool: envc-{}", env!("CARGO_PKG_VERSION"))],
        },
        "packages": packages,
        "relationships": relationships,
    }))
}
