//! Library benchmarks: `cargo bench --bench compile` (about 20 s once built).
//!
//! - `compile/seed`: `envc::compile` of `fixtures/seed.yaml` (parse, validate, lower, digest);
//! - `dockerfile/seed`: `compile` and `emit::dockerfile::render`, what `envc dockerfile` does;
//! - `check/1000_specs`: `compile` of 1,000 varied valid specs, what `envc check` does in one
//!   process, without the file reads and `envc.toml` discovery;
//! - `large/…`: specs at the size limits' scale, each time including the rendering of every
//!   diagnostic: 95,000 `env_vars`, 20,000 duplicate keys, 20,000 invalid entries on one line
//!   (each was quadratic once: minutes, not milliseconds).
//!
//! The 1,000 specs are the ones `benches/gen-specs.sh` writes (same pools, same formulas); the
//! whole-process numbers come from `benches/compare.sh` (see BENCHMARKS.md).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use envc::config::Config;
use envc::CompileOptions;
use std::fmt::Write;
use std::time::Duration;

const SEED: &str = include_str!("../fixtures/seed.yaml");
const IMAGES: &str = include_str!("../data/anyscale-supported-base-images.txt");

const DEBIAN: &[&str] = &[
    "vim",
    "curl",
    "git",
    "htop",
    "jq",
    "tmux",
    "wget",
    "zip",
    "unzip",
    "build-essential",
    "libssl-dev",
    "ffmpeg",
];
const PIP: &[&str] = &[
    "pkutils",
    "numpy>=1.24",
    "pandas==2.1.4",
    "requests[socks]>=2.31,<3",
    "scikit-learn~=1.3.0",
    "torch; python_version >= \"3.8\"",
    "boto3",
    "pyarrow>=14",
    "transformers==4.36.2",
    "datasets",
];
const CONDA: &[&str] = &[
    "pkutils",
    "numpy=1.26",
    "conda-forge::jq",
    "scipy>=1.10",
    "libgcc-ng",
    "cudatoolkit=11.8",
];
const POST: &[&str] = &[
    "ls",
    "echo \"built spec IDX\"",
    "pip list",
    "python -c \"import sys; print(sys.version)\"",
    "mkdir -p /tmp/cache-IDX && touch /tmp/cache-IDX/ok",
    "conda list | head -n 5",
];

/// Spec `i` of the set `benches/gen-specs.sh` writes to `spec-{i:04}.yaml`.
fn spec(i: usize, images: &[&str]) -> String {
    let mut s = String::new();
    let w = &mut s;
    // `write!` to a String cannot fail.
    let _ = writeln!(w, "base_image: {}", images[(i * 13) % images.len()]);
    let ne = i % 5;
    if ne > 0 {
        let _ = writeln!(w, "env_vars:");
        for k in 0..ne {
            let v = match (i + k) % 4 {
                0 => format!("value-{i}-{k}"),
                1 => format!("/opt/app-{i}/bin:${{PATH}}"),
                2 => format!("$HOME/work/{k}"),
                _ => format!("cost-$${i}"),
            };
            let _ = writeln!(w, "  VAR_{i}_{k}: \"{v}\"");
        }
    }
    let m = i % 4;
    if m > 0 {
        let _ = writeln!(w, "debian_packages:");
        for k in 0..m {
            let _ = writeln!(w, "  - {}", DEBIAN[(i + 3 * k) % DEBIAN.len()]);
        }
    }
    let (p, c) = ((i / 4) % 4, i % 3);
    if p > 0 || c > 0 {
        let _ = writeln!(w, "python:");
        if p > 0 {
            let _ = writeln!(w, "  pip_packages:");
            for k in 0..p {
                let e = PIP[(i + 3 * k) % PIP.len()].replace('\'', "''");
                let _ = writeln!(w, "    - '{e}'");
            }
        }
        if c > 0 {
            let _ = writeln!(w, "  conda_packages:");
            for k in 0..c {
                let _ = writeln!(w, "    - '{}'", CONDA[(i + 2 * k) % CONDA.len()]);
            }
        }
    }
    let b = i % 3;
    if b > 0 {
        let _ = writeln!(w, "post_build_cmds:");
        for k in 0..b {
            let cmd = POST[(i + k) % POST.len()]
                .replace("IDX", &i.to_string())
                .replace('\'', "''");
            let _ = writeln!(w, "  - '{cmd}'");
        }
    }
    s
}

fn specs(n: usize) -> Vec<(String, String)> {
    let images: Vec<&str> = IMAGES.lines().filter(|l| !l.trim().is_empty()).collect();
    (0..n)
        .map(|i| (format!("spec-{i:04}.yaml"), spec(i, &images)))
        .collect()
}

fn benches(c: &mut Criterion) {
    let config = Config::default();
    let options = CompileOptions::default();
    let render_options = envc::emit::dockerfile::Options::default();

    // Fail loudly, not benchmark an error path.
    let compiled = envc::compile("seed.yaml", SEED.as_bytes(), &config, &options)
        .expect("fixtures/seed.yaml compiles");
    envc::emit::dockerfile::render(&compiled.plan, &render_options)
        .expect("fixtures/seed.yaml renders");
    let set = specs(1000);
    for (name, text) in &set {
        if let Err(d) = envc::compile(name, text.as_bytes(), &config, &options) {
            panic!("generated {name} is invalid: {d:?}\n{text}");
        }
    }

    c.bench_function("compile/seed", |b| {
        b.iter(|| envc::compile("seed.yaml", black_box(SEED.as_bytes()), &config, &options))
    });

    c.bench_function("dockerfile/seed", |b| {
        b.iter(|| {
            let compiled =
                envc::compile("seed.yaml", black_box(SEED.as_bytes()), &config, &options).ok()?;
            envc::emit::dockerfile::render(&compiled.plan, &render_options).ok()
        })
    });

    let mut group = c.benchmark_group("check");
    group.throughput(Throughput::Elements(set.len() as u64));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    group.bench_function("1000_specs", |b| {
        b.iter(|| {
            set.iter()
                .filter(|(name, text)| {
                    envc::compile(name, black_box(text.as_bytes()), &config, &options).is_ok()
                })
                .count()
        })
    });
    group.finish();

    let head = "base_image: anyscale/ray:2.9.0-py310\n";
    let mut many = format!("{head}env_vars:\n");
    for i in 0..95_000 {
        let _ = writeln!(many, "  K{i}: \"v\"");
    }
    let mut dups = format!("{head}env_vars:\n");
    for _ in 0..20_000 {
        dups.push_str("  K: \"v\"\n");
    }
    let flow = format!(
        "{head}debian_packages: [{}]\n",
        vec!["X"; 20_000].join(", ")
    );
    let mut group = c.benchmark_group("large");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for (name, text) in [
        ("95000_env_vars", &many),
        ("20000_duplicate_keys", &dups),
        ("20000_errors_one_line", &flow),
    ] {
        group.bench_function(name, |b| {
            b.iter(
                || match envc::compile(name, black_box(text.as_bytes()), &config, &options) {
                    Ok(c) => c.warnings.len(),
                    Err(d) => d
                        .iter()
                        .map(|d| {
                            envc::diag::render::human(d, envc::diag::render::Style { color: false })
                                .len()
                        })
                        .sum(),
                },
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = compile;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(compile);
