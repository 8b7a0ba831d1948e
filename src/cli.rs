//! The command line, as clap structs. Doc comments are the `--help` text; no logic lives here.

use crate::oci::Compression;
use crate::runtime_env::RayRules;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  envc check env.yaml                     validate (pre-commit, CI)
  envc check --format json specs/*.yaml   machine-readable diagnostics
  envc dockerfile env.yaml -o Dockerfile  write the Dockerfile
  envc plan env.yaml --digest             print the spec digest
  envc check --template --var RAY_IMAGE=anyscale/ray:2.9.0-py310 app_config.yaml
  envc explain E023                       explain a diagnostic code
  envc build env.yaml --name my-env --base oci-archive:ray.tar
  envc list; envc show my-env:2; envc diff my-env:2 env.yaml; envc rollback my-env --to 1
  envc pull anyscale/ray:2.9.0-py311; envc push my-env registry.example.com/ml/my-env

Exit codes: 0 success; 1 the answer is no (invalid spec); 2 usage, I/O or tool error.";

/// envc: compile ML cluster-environment specs into deterministic, injection-proof Dockerfiles.
#[derive(Debug, Parser)]
#[command(name = "envc", version, about, after_help = EXAMPLES, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print only errors and requested data.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what envc does (config used, digests).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to colour diagnostics (never with NO_COLOR set).
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// `envc dockerfile --for`: the builder a Dockerfile is written for.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum For {
    /// BuildKit, docker, buildah/podman, kaniko.
    Docker,
    /// `anyscale image build -f FILE -n NAME`.
    Anyscale,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate specs and report every problem (exit 1 if any has errors).
    #[command(after_help = "Example: envc check env.yaml other/*.yaml")]
    Check {
        /// Spec files (`-` reads standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Diagnostics format on stderr (`json`: one document on stdout, schema envc.diagnostics/v1).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Compile a spec into a Dockerfile (stdout, or `-o FILE`).
    #[command(after_help = "Example: envc dockerfile env.yaml -o build/Dockerfile")]
    Dockerfile {
        /// The spec file (`-` reads standard input).
        file: PathBuf,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The builder to write for: `anyscale` writes a Containerfile for `anyscale image
        /// build` (Anyscale's subset: FROM an Anyscale base, ENV, RUN; not with --heredoc,
        /// --cache-mounts or --templates).
        #[arg(long = "for", value_enum, value_name = "BUILDER", default_value_t = For::Docker)]
        target: For,
        #[command(flatten)]
        dockerfile: DockerfileArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Write a BuildKit bake file (docker buildx bake) with one target per spec; not `envc
    /// bake`, which bakes a runtime env onto a stored revision.
    #[command(
        after_help = "Example: envc bakefile envs/*.yaml --cache-to type=local,dest=.cache -o docker-bake.json
          then: docker buildx bake -f docker-bake.json --push

Each target's `dockerfile-inline` is what `envc dockerfile SPEC` writes with the same options;
its tag is `NAME:<first 12 hex of the spec digest>`. Every target inherits `_envc-common`
(context, platforms, cache settings). A `.` in NAME becomes `_` in the target's name (bake
target names are `[a-zA-Z0-9_-]+`); the tag keeps the name."
    )]
    Bakefile {
        /// Spec files; each environment is named after its file stem unless `--name` names it.
        #[arg(required_unless_present = "names")]
        specs: Vec<PathBuf>,
        /// Name the environment of SPEC (repeatable; SPEC need not be repeated as an argument).
        #[arg(long = "name", value_name = "NAME=SPEC", value_parser = parse_named_spec)]
        names: Vec<(String, PathBuf)>,
        /// Write here (atomically) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Prefix every tag, e.g. `registry.example.com/ml/` (must end with `/`).
        #[arg(long, value_name = "PREFIX", value_parser = parse_tag_prefix)]
        tag_prefix: Option<String>,
        /// A BuildKit cache source, passed through as bake's `cache-from` (repeatable).
        #[arg(long, value_name = "CACHE")]
        cache_from: Vec<String>,
        /// A BuildKit cache export, passed through as bake's `cache-to` (repeatable).
        #[arg(long, value_name = "CACHE")]
        cache_to: Vec<String>,
        /// A target platform such as `linux/amd64` (repeatable; default: the builder's).
        #[arg(long = "platform", value_name = "PLATFORM")]
        platforms: Vec<String>,
        #[command(flatten)]
        dockerfile: DockerfileArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Print the normalised plan as canonical JSON (its sha256 is the spec digest).
    #[command(after_help = "Example: envc plan env.yaml --digest")]
    Plan {
        /// The spec file (`-` reads standard input).
        file: PathBuf,
        /// Print only the spec digest, `sha256:<hex>`.
        #[arg(long, conflicts_with = "provenance")]
        digest: bool,
        /// Print `{"digest", "plan", "provenance"}` (template inputs are provenance, not part of the digest).
        #[arg(long)]
        provenance: bool,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Build specs into OCI images and record each as a new revision NAME:REV in the store.
    #[command(after_help = "Examples:
  envc build env.yaml --name my-env --base ./ray-base:2.9.0      base from an OCI layout
  envc build env.yaml --name my-env --base oci-archive:base.tar  or from an oci-archive
  envc build env.yaml --name my-env --engine-arg --network=host  packages: built by podman
  envc build specs/*.yaml --jobs 2                                many, named by file stem

A spec that only sets env vars is assembled without an engine. One that installs packages or
runs commands is rendered to the Dockerfile `envc dockerfile` writes and built by podman,
buildah or docker (`--engine`, ENVC_ENGINE, `[engine] name` in envc.toml; else the first on
PATH); the result is normalised and imported. Prints `NAME:REV sha256:<manifest digest>`; when
nothing changed (same spec, Dockerfile and base as the latest revision, or the same image)
no revision is added and that revision's line is followed by `unchanged`. SOURCE_DATE_EPOCH
sets every timestamp (default 0). Every engine build leaves a record: `envc list --all`,
`envc logs`.")]
    Build {
        /// The spec files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The environment's name (one spec), or NAME=SPEC (repeatable); else the file stem.
        /// Names are lower case, `[a-z0-9]+([._-][a-z0-9]+)*`.
        #[arg(long = "name", value_name = "NAME|NAME=SPEC")]
        names: Vec<String>,
        /// The base image's content: `oci:DIR[:REF]` (an OCI layout; REF is everything after
        /// the first `:` after DIR, so `oci:./store:app:2` works), `oci-archive:FILE[:REF]`,
        /// `docker-archive:FILE[:REF]`, or `DIR[:REF]` (split after the prefix that is an
        /// existing directory), or `docker://REF` (pulled from a registry). Not needed once the
        /// base named by the spec is in the store: one it lacks is pulled from its registry
        /// (through `[base-image] mirror` when envc.toml sets one) unless --offline.
        #[arg(long, value_name = "SOURCE")]
        base: Option<String>,
        /// Layer compression in the store.
        #[arg(long, value_enum, default_value_t = Compression::Gzip)]
        compression: Compression,
        /// The engine for specs that need execution: podman, buildah or docker.
        #[arg(long, value_name = "ENGINE")]
        engine: Option<String>,
        /// An argument for the engine's build command, passed unchanged (repeatable), e.g.
        /// `--engine-arg=--network=host`.
        #[arg(long = "engine-arg", value_name = "ARG", allow_hyphen_values = true)]
        engine_args: Vec<String>,
        /// Build even when the spec, its Dockerfile and its base are unchanged, every step run
        /// again (the engine's `--no-cache`): packages move, and this asks for today's.
        #[arg(long)]
        rebuild: bool,
        /// How many specs to build at once.
        #[arg(short, long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
        /// Never use the network for a base: one the store lacks is an error naming it (the
        /// engine is told not to pull either). With --lock: every artifact from the cache.
        #[arg(long)]
        offline: bool,
        /// Install the Debian and pip packages hermetically from this lock (`envc lock`): no
        /// engine and, with a warm cache, no network; post-build commands then run through
        /// the engine on top. A lock that is stale for the spec or its base is refused.
        #[arg(long, value_name = "FILE")]
        lock: Option<PathBuf>,
        /// The artifact cache (default `$ENVC_CACHE_DIR`, else `$XDG_CACHE_HOME/envc/artifacts`,
        /// else `~/.cache/envc/artifacts`).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        dockerfile: DockerfileArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Resolve a spec's Debian and pip packages once, on its base, into a lockfile.
    #[command(after_help = "Examples:
  envc lock env.yaml                       writes envc.lock (base from the store or its registry)
  envc lock env.yaml --base oci:./ray-base -o ray.lock
  envc lock env.yaml --check               exit 1, with what changed, when envc.lock is stale

The only step of a hermetic build that uses the network. The base image's layers are read
(nothing is run): its distribution, its apt sources and the keyrings it trusts, its dpkg
database and its Python. Debian packages are resolved against the base's own sources, whose
InRelease must verify with the image's keyring; pip requirements are resolved by uv for the
base's Python and platform, wheels only. Every artifact is fetched into the cache and
verified. `--check` uses neither the network nor a resolver.")]
    Lock {
        /// The spec file.
        file: PathBuf,
        /// The base image, as for `envc build --base`.
        #[arg(long, value_name = "SOURCE")]
        base: Option<String>,
        /// Where to write the lock.
        #[arg(short, long, value_name = "FILE", default_value = "envc.lock")]
        output: PathBuf,
        /// Say whether the lock at --output is current for the spec (exit 0) or stale (exit 1,
        /// with what changed); nothing is fetched or written.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        resolver: ResolverArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Fill the artifact cache with every deb and wheel a lockfile names, verified.
    #[command(after_help = "Examples:
  envc fetch                     the artifacts of ./envc.lock
  envc fetch ray.lock --cache /mnt/envc-cache

After it, `envc build --lock --offline` needs no network. Nothing is ever evicted from the
cache: archives drop superseded versions, and a lock must stay buildable from the cache alone.")]
    Fetch {
        /// The lockfile.
        #[arg(default_value = "envc.lock")]
        lock: PathBuf,
        /// The artifact cache (see `envc build --cache`).
        #[arg(long, value_name = "DIR")]
        cache: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Write a software bill of materials of the packages a lockfile adds.
    #[command(after_help = "Examples:
  envc sbom                           CycloneDX 1.5 JSON of ./envc.lock on stdout
  envc sbom ray.lock --format spdx -o sbom.spdx.json

Deterministic: the same lock gives the same bytes (no wall clock, no random ids; SPDX's
creation time is SOURCE_DATE_EPOCH, default 0).")]
    Sbom {
        /// The lockfile.
        #[arg(default_value = "envc.lock")]
        lock: PathBuf,
        #[arg(long, value_enum, default_value_t = SbomFormat::Cyclonedx)]
        format: SbomFormat,
        /// Write here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Record an image built elsewhere (BuildKit, kaniko, docker, CI) as a revision of NAME.
    #[command(after_help = "Examples:
  envc import my-env --spec env.yaml --image oci-archive:built.tar
  envc import my-env --spec env.yaml --image docker-archive:saved.tar --base oci:./ray-base

The image is kept byte for byte (its manifest digest stays the one the builder made); the
spec's digest and plan are recorded beside it, so `show`, `diff` and `rollback` work on it. It
must be built on the spec's base (its first layers are the base's), which must be in the store
or given with --base, unless --force.")]
    Import {
        /// The environment's name.
        name: String,
        /// The spec the image was built from.
        #[arg(long, value_name = "SPEC")]
        spec: PathBuf,
        /// The image: `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or `docker-archive:FILE[:REF]`.
        #[arg(long, value_name = "SOURCE")]
        image: String,
        /// The spec's base image, as for `envc build --base`, when the store does not have it.
        #[arg(long, value_name = "SOURCE")]
        base: Option<String>,
        /// Record the image even if it is not built on the spec's base (or the base is unknown).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Print the log of a build: `NAME:REV` (the build that made it) or a build id.
    #[command(
        after_help = "Example: envc logs my-env:3; envc logs my-env-20261201T150102Z-3fa9c1
Build ids are in `envc list --all`."
    )]
    Logs {
        /// `NAME[:REV]` or a build id.
        build: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Serve the store over HTTP: a JSON API under /v1/ and a web UI at /. Runs until SIGTERM
    /// or Ctrl-C.
    #[command(
        after_help = "Example: envc serve --store /srv/envc --listen 127.0.0.1:8080
Anything but loopback needs --token-file (16+ characters: `openssl rand -hex 32 > token`)."
    )]
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// The address to listen on (port 0: a free port, printed at start).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
        listen: String,
        /// A file holding the bearer token every request must carry.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Allow browsers on this origin (`https://host[:port]`) to call the API; repeatable.
        /// No CORS without it.
        #[arg(long, value_name = "ORIGIN")]
        cors_origin: Vec<String>,
        /// The largest request body, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
        max_body: usize,
        /// How many builds may wait; more are refused (503).
        #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
        max_queue: u16,
        /// How many builds run at once.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        max_builds: u16,
        /// Seconds running builds may go on after SIGTERM before they are stopped.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        grace: u64,
        /// The engine for specs that install packages (podman, buildah, docker).
        #[arg(long)]
        engine: Option<String>,
        /// An argument for the engine's build; repeatable.
        #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
        engine_arg: Vec<String>,
        /// The configuration every posted spec compiles against (an `envc.toml`).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Bake a runtime env's working dir, py_modules and env_vars onto a stored revision, as a
    /// new revision.
    #[command(
        after_help = "Example: envc bake runtime_env.yaml --name my-job --from my-env:3

The working dir is laid out at /opt/envc/working_dir (owned by the image user), local
py_modules under /opt/envc/py_modules; PYTHONPATH and WorkingDir are set as a Ray worker
sees them. pip and conda entries are not installed by baking.
It then prints the runtime env a job on the image passes (`--format json`: `runtime_env`):
under Ray 2.60 `local://` URIs of the baked working dir and py_modules, so nothing is uploaded."
    )]
    Bake {
        /// The runtime env (JSON or YAML); relative paths resolve against the current directory.
        runtime_env: PathBuf,
        /// The new revision's environment name.
        #[arg(long)]
        name: String,
        /// The cluster environment to bake onto: `NAME` (latest) or `NAME:REV`.
        #[arg(long, value_name = "NAME[:REV]")]
        from: String,
        #[arg(long, value_enum, default_value_t = Compression::Gzip)]
        compression: Compression,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the revisions in the store (of one environment, or all).
    List {
        /// Only this environment.
        name: Option<String>,
        /// Also the builds that failed or were interrupted (with their time and failing step).
        #[arg(long)]
        all: bool,
        /// One line per environment (its revision count and latest revision) instead.
        #[arg(long, conflicts_with_all = ["name", "all"])]
        environments: bool,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show one revision: its plan, digests, layers and provenance.
    Show {
        /// `NAME` (the latest revision) or `NAME:REV`.
        reference: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check an image against Anyscale's BYOD image requirements, from its config and layers
    /// (never running it): exit 0 when it meets them all, 1 when it misses any (one diagnostic
    /// each, E070–E081), 2 when it cannot be read.
    #[command(
        name = "check-image",
        after_help = "Examples:
  envc check-image my-env:3
  envc check-image oci:./layout:my-image --format json
  envc check-image docker-archive:saved.tar"
    )]
    CheckImage {
        /// `NAME[:REV]` (a stored revision), `oci:DIR[:REF]`, `oci-archive:FILE[:REF]` or
        /// `docker-archive:FILE[:REF]`.
        image: String,
        /// Diagnostics format on stderr (`json`: one document on stdout, schema envc.diagnostics/v1).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Compare two revisions or spec files: packages, env, base, layers.
    #[command(
        after_help = "Example: envc diff my-env:3 env.yaml    (what a pull request would change)"
    )]
    Diff {
        /// `NAME:REV` (always a stored revision), `NAME` (the latest revision, unless a
        /// file of that name exists), or a spec file: a path with a `/` (`./app:2`) or `-`.
        a: String,
        /// As A.
        b: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Make a new revision whose content is an earlier revision's.
    Rollback {
        /// The environment.
        name: String,
        /// The revision to return to.
        #[arg(long)]
        to: u32,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Copy an image from a registry into the store, as a base builds can use; or, with
    /// `--from`, an environment's revisions from the repository `envc push NAME REPO` wrote.
    #[command(after_help = "Examples:
  envc pull anyscale/ray:2.9.0-py311                       a base, by tag (linux/amd64)
  envc pull ghcr.io/team/base@sha256:<hex> --platform linux/arm64
  envc pull registry.example.com/team/base:1 --all-platforms   every platform, index intact
  envc pull my-env --from registry.example.com/team/my-env    revisions built elsewhere

Every blob is verified on the way in (digest, size, each layer's diff_id), several at once; a
connection dropped mid-blob is resumed. Prints `REF sha256:<digest>` (with --all-platforms the
index's). Credentials: --username with --password-stdin, else ~/.docker/config.json (auths,
credHelpers, credsStore); HTTPS through the system's trust store; HTTPS_PROXY, HTTP_PROXY and
NO_PROXY apply.")]
    Pull {
        /// `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]` (Docker Hub when no registry); with
        /// `--from`, the environment's NAME.
        reference: String,
        /// An environment's history: the repository its revisions were pushed to.
        #[arg(long, value_name = "REPOSITORY", conflicts_with_all = ["platform", "all_platforms"])]
        from: Option<String>,
        /// The platform an image index resolves to (default linux/amd64).
        #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
        platform: Option<String>,
        /// Keep an image index whole: every platform's image, and the index itself.
        #[arg(long)]
        all_platforms: bool,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Upload a revision (or a stored base) to a registry with every digest kept, or every
    /// revision of an environment to one repository.
    #[command(after_help = "Examples:
  envc push my-env:3 registry.example.com/team/my-env:3     one revision (DEST's tag, else latest)
  envc push my-env registry.example.com/team/my-env         every revision: tags 1, 2, …, latest

Manifest and config bytes go up exactly as stored, so the digest printed (`DEST sha256:<hex>`)
is the one `envc show` gives. Blobs the registry has are skipped, blobs of the base are mounted
from its repository when it is on the same registry, large blobs go in chunks, several at once,
and failed requests are retried. A revision already in the repository as another image is
refused (revisions are immutable): `envc pull NAME --from REPO` first.")]
    Push {
        /// `NAME:REV`, a base's name or manifest digest; or `NAME`: every revision.
        what: String,
        /// `[REGISTRY/]REPOSITORY[:TAG]`; for a whole history, the repository alone.
        dest: String,
        #[command(flatten)]
        registry: RegistryArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Write a revision as an archive for skopeo, podman or docker.
    Export {
        /// `NAME` or `NAME:REV`.
        reference: String,
        /// `oci-archive`, or `docker-archive` (an OCI layout plus manifest.json, for `docker load`;
        /// zstd layers need Docker 23 or later there, `podman load` reads them).
        #[arg(long, value_enum)]
        format: ExportArg,
        /// The archive to write (atomically).
        #[arg(short, long)]
        output: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check the store: every reachable blob's digest and size, every layer's diff_id, every ref.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Remove what no revision or base reaches (temp files and blobs of killed builds).
    Gc {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Parse an `anyscale://[PROJECT/]CLUSTER?cluster_env=NAME:REV&…` address.
    Resolve {
        /// The address.
        address: String,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Validate, normalise and merge Ray runtime environments.
    #[command(subcommand, name = "runtime-env")]
    RuntimeEnv(RuntimeEnvCommand),
    /// Package a working directory as Ray does: its URI, a deterministic zip, a sha256.
    #[command(after_help = "Example: envc package ./app --exclude '*.ckpt' -o app.zip")]
    Package {
        /// The working directory (or a local `py_modules` directory).
        dir: PathBuf,
        /// A gitignore-style pattern to leave out (repeatable; `!` re-includes).
        #[arg(long = "exclude", value_name = "PATTERN")]
        excludes: Vec<String>,
        /// Write the zip here (atomically).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Refuse packages of this size or more (bytes, or with KiB/MiB/GiB).
        #[arg(long, value_name = "SIZE", default_value = "100MiB", value_parser = parse_size)]
        max_size: u64,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
        /// Follow symlinks that resolve outside the directory.
        #[arg(long)]
        follow_external_links: bool,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Explain a diagnostic code (without one, list them all).
    Explain {
        /// A code such as E023 or W001.
        code: Option<String>,
    },
    /// Print a JSON Schema of the spec format, for editors.
    Schema,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuntimeEnvCommand {
    /// Check a runtime env (JSON or YAML) as Ray would; with --cluster-env, report the
    /// cluster-env packages it will not see.
    Check {
        file: PathBuf,
        /// Job level (local paths allowed) or task/actor level (URIs only).
        #[arg(long, value_enum, default_value_t = LevelArg::Job)]
        level: LevelArg,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
        /// A cluster-env spec: list its pip/conda packages this runtime env will not see.
        #[arg(long, value_name = "SPEC")]
        cluster_env: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Print the canonical form (keys sorted, empty values dropped, pip deduplicated).
    Normalize {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = LevelArg::Job)]
        level: LevelArg,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
    },
    /// Merge a child runtime env over a parent (task/actor rule), or a job's submit and init
    /// envs (`--mode job`: overlapping keys are a conflict).
    Merge {
        parent: PathBuf,
        child: PathBuf,
        #[arg(long, value_enum, default_value_t = MergeMode::Task)]
        mode: MergeMode,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
    },
    /// Validate a remote package URI and print Ray's local cache name for it.
    Uri {
        uri: String,
        /// Whose rules: a Ray version, `1`, `2` (= the newest supported), `2.40`, `2.60`
        /// (`2.41`–`2.59` follow the 2.40 rules).
        #[arg(long, value_name = "VERSION", default_value = "2.60", value_parser = parse_ray)]
        ray: RayRules,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LevelArg {
    Job,
    Task,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MergeMode {
    Task,
    Job,
}

fn parse_ray(s: &str) -> Result<RayRules, String> {
    RayRules::parse(s)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| t.strip_suffix(suffix).map(|n| (n.trim(), *m)))
    .unwrap_or((t, 1));
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("`{s}` is not a size (bytes, or a number with KiB, MiB or GiB)"))
}

/// How envc talks to registries.
#[derive(Debug, Args)]
pub struct RegistryArgs {
    /// Allow plain HTTP to a registry that does not speak HTTPS (certificates are still
    /// verified where it does).
    #[arg(long)]
    pub insecure: bool,
    /// The registry user; the password is read from standard input (`--password-stdin`).
    #[arg(long, value_name = "USER", requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the password (or token) for `--username` from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// How many blobs move at once.
    #[arg(long = "transfers", value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=32))]
    pub transfers: u16,
}

/// How `envc lock` resolves pip requirements.
#[derive(Debug, Args, Clone)]
pub struct ResolverArgs {
    /// The artifact cache (see `envc build --cache`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// The package index pip requirements resolve from (default PyPI), recorded in the lock.
    #[arg(long, value_name = "URL")]
    pub index_url: Option<String>,
    /// A further package index (repeatable), recorded in the lock.
    #[arg(long, value_name = "URL")]
    pub extra_index_url: Vec<String>,
    /// A directory or page of wheels to resolve from as well (repeatable), recorded in the lock.
    #[arg(long, value_name = "DIR|URL")]
    pub find_links: Vec<String>,
    /// The uv that resolves pip requirements (default: `uv` on PATH; `pip install uv`).
    #[arg(long, value_name = "PATH", default_value = "uv")]
    pub uv: PathBuf,
}

/// `envc sbom --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SbomFormat {
    /// CycloneDX 1.5, JSON.
    Cyclonedx,
    /// SPDX 2.3, JSON.
    Spdx,
}

/// Where the store is.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// The store (an OCI image layout); default `$ENVC_STORE`, else `./.envc/store`.
    #[arg(long, value_name = "DIR", env = "ENVC_STORE")]
    pub store: Option<PathBuf>,
}

/// `--compression` parses straight into the library's one compression enum.
impl ValueEnum for Compression {
    fn value_variants<'a>() -> &'a [Self] {
        &[Compression::Gzip, Compression::Zstd, Compression::None]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportArg {
    OciArchive,
    DockerArchive,
}

/// How specs are read; shared by every compiling command.
#[derive(Debug, Args, Clone)]
pub struct InputArgs {
    /// Render the file as a Jinja template first (`env` = the process environment).
    #[arg(long)]
    pub template: bool,
    /// Add a template value, visible as `KEY` and `env["KEY"]` (implies nothing without
    /// --template). Provenance records its name, never its value.
    #[arg(long = "var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
    /// Like --var, but the value is public: provenance records it (for values that help
    /// reproduce a build, such as an image tag; never for secrets).
    #[arg(long = "public-var", value_name = "KEY=VALUE", value_parser = parse_var)]
    pub public_vars: Vec<(String, String)>,
    /// Use this envc.toml instead of searching upwards from the spec's directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Treat warnings as errors (exit 1).
    #[arg(long)]
    pub deny_warnings: bool,
}

/// What changes the generated Dockerfile; shared by `dockerfile` and `bakefile`.
#[derive(Debug, Args, Clone)]
pub struct DockerfileArgs {
    /// Write multi-line post-build commands as heredocs (needs BuildKit; not buildah < 1.35 or kaniko).
    #[arg(long)]
    pub heredoc: bool,
    /// Keep apt's debs and lists, conda's packages and pip's cache in BuildKit cache mounts between builds, never in the image (needs BuildKit).
    #[arg(long)]
    pub cache_mounts: bool,
    /// Use DIR/Dockerfile.j2 instead of the embedded template.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

fn parse_named_spec(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_string(), PathBuf::from(v))),
        _ => Err(format!("`{s}` is not NAME=SPEC")),
    }
}

fn parse_tag_prefix(s: &str) -> Result<String, String> {
    if s.ends_with('/') {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` does not end with `/`: write `{s}/`"))
    }
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}
