//! Wheel compatibility tags for one CPython on one manylinux platform, in the order
//! `packaging.tags.sys_tags()` yields them (best first): the list pip and uv rank wheels by.
//! uv's pylock lists every wheel of a version that fits the target; the installer must take the
//! one CPython itself would prefer, so the order here follows `packaging` 24's
//! `cpython_tags` + `compatible_tags` exactly, not an approximation.

use std::collections::HashMap;

/// Manylinux `(glibc minor)` → legacy alias, yielded right after `manylinux_2_<minor>`.
const LEGACY: [(u32, &str); 3] = [
    (17, "manylinux2014"),
    (12, "manylinux2010"),
    (5, "manylinux1"),
];

/// The platform tags of `arch` for glibc 2.`glibc_minor`, best first (`_manylinux.platform_tags`
/// then `linux_<arch>`): x86_64 and i686 go down to glibc 2.5, every other arch to 2.17.
pub fn platform_tags(arch: &str, glibc_minor: u32) -> Vec<String> {
    let oldest = if matches!(arch, "x86_64" | "i686") {
        5
    } else {
        17
    };
    let mut out = Vec::new();
    for minor in (oldest..=glibc_minor).rev() {
        out.push(format!("manylinux_2_{minor}_{arch}"));
        if let Some((_, alias)) = LEGACY.iter().find(|(m, _)| *m == minor) {
            // packaging yields the legacy aliases only where they were defined.
            let defined = match *alias {
                "manylinux2014" => true,
                _ => matches!(arch, "x86_64" | "i686"),
            };
            if defined {
                out.push(format!("{alias}_{arch}"));
            }
        }
    }
    out.push(format!("linux_{arch}"));
    out
}

/// Every tag CPython 3.`minor` accepts on `platforms`, best first.
pub fn supported_tags(minor: u32, platforms: &[String]) -> Vec<String> {
    let cp = format!("cp3{minor}");
    let mut out = Vec::new();
    // cpython_tags: the interpreter's own ABI, abi3, none, then abi3 of older minors (≥ 3.2).
    for abi in [cp.as_str(), "abi3", "none"] {
        if abi == "abi3" && minor < 2 {
            continue;
        }
        out.extend(platforms.iter().map(|p| format!("{cp}-{abi}-{p}")));
    }
    if minor >= 2 {
        for older in (2..minor).rev() {
            out.extend(platforms.iter().map(|p| format!("cp3{older}-abi3-{p}")));
        }
    }
    // compatible_tags: pyXY/py3/older pyXY with no ABI on each platform, then `any`.
    let py: Vec<String> = std::iter::once(format!("py3{minor}"))
        .chain(std::iter::once("py3".to_string()))
        .chain((0..minor).rev().map(|m| format!("py3{m}")))
        .collect();
    for v in &py {
        out.extend(platforms.iter().map(|p| format!("{v}-none-{p}")));
    }
    out.push(format!("{cp}-none-any"));
    out.extend(py.iter().map(|v| format!("{v}-none-any")));
    out
}

/// Ranks of the supported tags (0 is best), for looking wheels up.
pub struct Ranking {
    rank: HashMap<String, usize>,
}

impl Ranking {
    pub fn new(minor: u32, arch: &str, glibc_minor: u32) -> Ranking {
        let platforms = platform_tags(arch, glibc_minor);
        let tags = supported_tags(minor, &platforms);
        let mut rank = HashMap::with_capacity(tags.len());
        for (i, t) in tags.into_iter().enumerate() {
            rank.entry(t).or_insert(i);
        }
        Ranking { rank }
    }

    /// The best rank of any tag the wheel file name carries, `None` if it fits nowhere.
    pub fn of(&self, filename: &str) -> Option<usize> {
        wheel_tags(filename)?
            .iter()
            .filter_map(|t| self.rank.get(t).copied())
            .min()
    }
}

/// The tags of a wheel file name (`{name}-{ver}[-{build}]-{py}-{abi}-{plat}.whl`), compressed
/// tag sets (`py2.py3-none-any`) expanded; `None` if the name is not a wheel's.
pub fn wheel_tags(filename: &str) -> Option<Vec<String>> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(parts.len() == 5 || parts.len() == 6) {
        return None;
    }
    let n = parts.len();
    let (pys, abis, plats) = (parts[n - 3], parts[n - 2], parts[n - 1]);
    let mut out = Vec::new();
    for py in pys.split('.') {
        for abi in abis.split('.') {
            for plat in plats.split('.') {
                out.push(format!("{py}-{abi}-{plat}"));
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_follows_packaging() {
        let platforms = platform_tags("x86_64", 36);
        assert_eq!(platforms[0], "manylinux_2_36_x86_64");
        let i17 = platforms.iter().position(|p| p == "manylinux_2_17_x86_64");
        let i2014 = platforms.iter().position(|p| p == "manylinux2014_x86_64");
        assert_eq!(i2014, i17.map(|i| i + 1));
        assert!(platforms.contains(&"manylinux2010_x86_64".to_string()));
        assert!(platforms.contains(&"manylinux1_x86_64".to_string()));
        assert_eq!(platforms.last().map(String::as_str), Some("linux_x86_64"));
        // 32 manylinux_2_X (2_36 … 2_5), 3 aliases, linux.
        assert_eq!(platforms.len(), 32 + 3 + 1);

        let arm = platform_tags("aarch64", 28);
        assert_eq!(arm.len(), 12 + 1 + 1);
        assert!(!arm.iter().any(|p| p.starts_with("manylinux1")));

        let tags = supported_tags(11, &platforms);
        let pos = |t: &str| tags.iter().position(|x| x == t).unwrap_or(usize::MAX);
        let ordered = [
            "cp311-cp311-manylinux_2_36_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64",
            "cp311-cp311-manylinux2014_x86_64",
            "cp311-cp311-linux_x86_64",
            "cp311-abi3-manylinux_2_36_x86_64",
            "cp311-none-manylinux_2_36_x86_64",
            "cp310-abi3-manylinux_2_17_x86_64",
            "cp32-abi3-linux_x86_64",
            "py311-none-manylinux_2_36_x86_64",
            "py3-none-manylinux_2_17_x86_64",
            "py30-none-linux_x86_64",
            "cp311-none-any",
            "py311-none-any",
            "py3-none-any",
            "py310-none-any",
            "py30-none-any",
        ];
        for w in ordered.windows(2) {
            assert!(pos(w[0]) < pos(w[1]), "{} before {}", w[0], w[1]);
        }
        assert_eq!(tags.last().map(String::as_str), Some("py30-none-any"));
        assert_eq!(pos("cp312-cp312-manylinux_2_17_x86_64"), usize::MAX);
        assert_eq!(pos("cp311-cp311-manylinux_2_37_x86_64"), usize::MAX);
    }

    #[test]
    fn wheel_names_rank() {
        let r = Ranking::new(11, "x86_64", 36);
        let native =
            r.of("numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
        let abi3 = r.of("cryptography-42.0.0-cp39-abi3-manylinux_2_28_x86_64.whl");
        let pure = r.of("six-1.16.0-py2.py3-none-any.whl");
        let build = r.of("foo-1.0-1-py3-none-any.whl");
        assert!(native < abi3 && abi3 < pure, "{native:?} {abi3:?} {pure:?}");
        assert_eq!(pure, build);
        assert_eq!(r.of("x-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(r.of("x-1.0-cp311-cp311-manylinux_2_17_aarch64.whl"), None);
        assert_eq!(r.of("x-1.0-cp311-cp311-musllinux_1_2_x86_64.whl"), None);
        assert_eq!(r.of("x-1.0.tar.gz"), None);
        assert_eq!(r.of("x-py3-none-any.whl"), None);
        assert_eq!(
            wheel_tags("a-1-py2.py3-none-any.whl"),
            Some(vec!["py2-none-any".into(), "py3-none-any".into()])
        );
    }
}
