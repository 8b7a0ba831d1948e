//! The table of stable diagnostic codes. Every distinct error (`E…`) and warning (`W…`) envc
//! can report is listed here once, with a one-line summary (used in the README table) and a long
//! explanation (printed by `envc explain CODE`). Codes are never reused or renumbered.

/// One stable diagnostic code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Code(pub &'static str);

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// A code's documentation.
pub struct CodeDoc {
    pub code: Code,
    pub summary: &'static str,
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $summary:literal, $explanation:literal;)*) => {
        $(pub const $name: Code = Code($code);)*
        /// Every code, in order.
        pub const ALL: &[CodeDoc] = &[$(CodeDoc { code: $name, summary: $summary, explanation: $explanation }),*];
    };
}

codes! {
    YAML_SYNTAX = "E001", "the file is not valid YAML",
"The spec could not be read as YAML. The message names the position where the YAML parser gave up;
the mistake is often just before it (an unclosed quote or bracket, a tab used for indentation, a
key without a colon).

If the file is a Jinja template (it contains `{{ … }}` or `{% … %}` outside quoted strings), pass
`--template` so envc renders it before reading it as YAML.";

    YAML_LIMIT = "E002", "the file exceeds a safety limit (size, nesting depth or alias expansion)",
"envc refuses inputs that could exhaust memory or time. Two limits bound the document's size: at
most 8 MiB (8,388,608 bytes) and at most 200,000 YAML nodes (a scalar, list or mapping is one
node; an `env_vars` entry is two), which a 20,000-entry spec meets with room to spare. Nesting
may be at most 64 levels deep. Separately, YAML aliases (`*name`, including merge keys
`<<: *name`) may add at most 10,000 nodes in all by expanding (the \"billion laughs\" attack: ten
nested aliases of ten would make 10^10 nodes); the aliases a real spec uses add a few dozen. The
message says which limit was hit and, for the size, how large the file is.";

    ENCODING = "E003", "the file is not UTF-8 text",
"Every input envc reads must be UTF-8: specs, runtime environments and `envc.toml` alike. The
message gives the byte offset of the first invalid sequence. Re-save the file as UTF-8 (most
editors have an encoding option), or remove stray binary content.";

    TEMPLATE = "E004", "the Jinja template could not be rendered",
"With `--template`, envc renders the spec with Jinja (minijinja, compatible with Jinja2) before it
reads the YAML. The template may use `env` (the process environment plus `--var KEY=VALUE`) and
the variables given with `--var`. A value that is not defined is an error unless the template
gives a default: `{{ env[\"RAY_IMAGE\"] | default(\"anyscale/ray:2.9.0-py310\") }}`.";

    UNREADABLE = "E005", "the file cannot be read",
"The file (or the `envc.toml` that governs it) does not exist, is a directory, or cannot be read
(permissions). `envc check` reports this for that file and still checks the others; it then exits
with 2, an I/O error, rather than 1.";

    UNKNOWN_KEY = "E010", "a key envc does not know",
"Every key of the spec is checked: a misspelt key would otherwise be silently ignored and the
environment built without it. The standard form knows `base_image`, `env_vars`,
`debian_packages`, `python` (with `pip_packages` and `conda_packages`) and `post_build_cmds`; the
BYOD form knows `docker_image`, `ray_version`, `env_vars` and `registry_login_secret`. A
top-level key that starts with `x-` is an extension field that envc ignores: the place for a YAML
anchor the spec aliases (`x-common: &common {…}`).

Some keys belong to other Anyscale files: `aws`, `gcp`, `head_node_type` and `worker_node_types`
are compute configuration; `working_dir`, `pip` and `conda` at the top level are a Ray runtime
environment. Move them there.";

    DUPLICATE_KEY = "E011", "a key appears twice in one mapping",
"YAML parsers disagree on which of two equal keys wins (most keep the last silently). envc refuses
to guess: remove or merge one of them.";

    WRONG_TYPE = "E012", "a value has the wrong type",
"Each key expects one shape: `base_image` a string, `env_vars` a mapping of names to strings,
the package lists and `post_build_cmds` lists of strings, `python` a mapping. An optional key
given with no value (`env_vars:` alone) means empty.";

    MISSING_KEY = "E013", "a required key is missing",
"The standard form requires `base_image`; the BYOD form requires `docker_image` and
`ray_version`. A key given as null (`base_image:` with nothing after it) counts as missing.";

    MIXED_FORMS = "E014", "a standard key beside `docker_image`",
"A spec is either the standard form (`base_image` plus packages and commands) or the BYOD form
(`docker_image`, `ray_version`, `env_vars`, `registry_login_secret`). The presence of
`docker_image` selects BYOD, where packages and post-build commands are not allowed: bake them into
your image, or use the standard form.";

    ENV_NAME = "E020", "an invalid environment variable name",
"Names must match `[A-Za-z_][A-Za-z0-9_]*` (lower case is allowed: `RAY_task_oom_retries`).";

    ENV_VALUE_TYPE = "E021", "an environment value that is not a string",
"Environment values are strings. YAML turns unquoted `true`, `yes`, `on`, `1.0`, `0x1F` or an
empty value into booleans, numbers and nulls, and YAML 1.1 and 1.2 disagree about several of them,
so envc refuses them: quote the value (`DEBUG: \"true\"`). A plain decimal integer such as `1` is
accepted as written, with warning W001.";

    CONTROL_CHAR = "E022", "a NUL, carriage return or line feed in a single-line value",
"Every value except a post-build command lands on one line of the generated Dockerfile; a line
break there would start a new instruction (`ok\\nRUN curl evil | sh`). envc rejects NUL, CR and LF
in names, values, package entries and the base image. A multi-line post-build command is allowed
and is emitted safely.";

    ENV_DOLLAR = "E023", "a `$` that is neither a reference nor a literal",
"In `env_vars`, `$NAME` and `${NAME}` refer to an earlier variable of the spec or of the base
image (`PATH: /opt/x/bin:$PATH`), exactly as Docker expands them; a reference to a variable that is
not set expands to the empty string. `$$` is a literal dollar sign. Any other use of `$` — shell
forms such as `${X:-default}`, `$1`, `$(cmd)`, or a lone `$` at the end — is refused, because
Dockerfile and shell give it different meanings. Write `$$` for a literal `$`.";

    EMPTY = "E024", "an empty name, value or entry where one is required",
"Package entries, post-build commands, the base image and names may not be empty or only
whitespace. Remove the empty item.";

    DEBIAN_PACKAGE = "E030", "a Debian package entry that is not a package name",
"Entries of `debian_packages` are what `apt-get install` reads as an install: a Debian package
name (lower case letters, digits, `+`, `-` and `.`, at least two characters, starting with a
letter or digit), optionally `:ARCH`, then optionally `=VERSION` (a version dpkg accepts) or
`/RELEASE` (`libc6:amd64=2.36-9`, `python3/bookworm-backports`). apt-get reads a trailing `-`
after any of these as \"remove\" (`vim-`, `sudo:amd64-`, `sudo=1.9-1-`), so it is refused; a
trailing `+` means \"install\" and is accepted. apt-get does not read both a version and a
release, nor an architecture after them; it reads a name no package has as a regular
expression, so a name ending in `.` (which none has) is refused too. Put anything else (options,
URLs, shell) in `post_build_cmds`.";

    PIP_REQUIREMENT = "E031", "a pip entry that is not a requirement",
"Entries of `python.pip_packages` are PEP 508 requirements (`requests[security]>=2.8,<3`,
`name @ https://…`, `foo===1.0-custom` for PEP 440 arbitrary equality) or the bare URL forms
pip accepts: a VCS URL with a scheme pip knows (`git+https`, `git+ssh`, `git+git`, `git+file`,
`hg+…`, `svn+…`, `bzr+…`; `git+https://github.com/org/repo@ref#egg=name`) or an `http`, `https`,
`file` or `ftp` URL of an archive (`.whl`, `.tar.gz`, `.zip`, …). pip options such as
`-r requirements.txt` or `--extra-index-url` belong in `post_build_cmds`.";

    CONDA_SPEC = "E032", "a conda entry that is not a MatchSpec",
"Entries of `python.conda_packages` are conda MatchSpecs as conda reads them:
`[channel[/subdir]::]name[ version[ build]]`, `name=version=build` (`numpy=1.26=py310_0`),
`python=3.10.*` or `name[version='>=1.2']`. envc uses rattler's MatchSpec parser in its lenient
mode, its model of conda's own reading. Note that `numpy=1.11` means 1.11.* and `numpy==1.11`
means exactly 1.11.0. conda reads an entry ending in `.conda` or `.tar.bz2` as a package file:
a local path is refused (the image has no such file), and a package-file URL must not stand
beside MatchSpecs, which `conda install` refuses to mix.";

    LEADING_DASH = "E033", "an entry that starts with `-`",
"A package entry that starts with `-` would be read as an option by apt-get, pip or conda (option
injection). No package name starts with `-`; put options in `post_build_cmds`.";

    IMAGE_REF = "E040", "a malformed image reference",
"`base_image` and `docker_image` are image references: `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]`
with a lower-case repository, as Docker and OCI define them.";

    IMAGE_POLICY = "E041", "a base image outside the policy",
"By default `base_image` must be an Anyscale image: `anyscale/ray`, `anyscale/ray-ml` or
`anyscale/ray-llm`, under any registry prefix (`docker.io/anyscale/ray:…`,
`mirror.example.com/anyscale/ray:…`), optionally pinned with `@sha256:…`. A project can allow more
repositories in `envc.toml`:

    [base-image]
    allow = [\"rayproject/*\", \"my-registry.example.com/ml/*\"]

The BYOD form (`docker_image`) takes any image.";

    IMAGE_TAG = "E042", "a base image tag that is not an Anyscale tag",
"Anyscale tags follow `VERSION[optimized|oss][-slim][-pyXY][-(cpu|gpu|cuNNN)][-aarch64]` with
VERSION `X.Y.Z`, `X.Y.ZrcN`, `nightly` or `pinned-nightly`, plus the legacy 1.7/1.8 forms and
`latest`. For Ray 2.7.x Anyscale requires the `optimized` or `oss` suffix
(`anyscale/ray:2.7.0optimized-py310`). `unknown` is not a tag.";

    IMAGE_NO_REPOSITORY = "E043", "a base image that names no repository",
"A reference like `anyscale/1.3.0-gpu` has a version where the repository name should be; it was
probably meant as `anyscale/ray:1.3.0-gpu` (or `ray-ml`).";

    RAY_VERSION = "E044", "an invalid BYOD `ray_version`",
"`ray_version` is the Ray version installed in a BYOD image: `X.Y.Z`, `X.Y.ZrcN` or `nightly`.
Quote it so YAML keeps it a string (`ray_version: \"2.9.0\"`).";

    IMAGE_FACTS = "E045", "a step that needs facts envc does not know about the base image",
"Debian, conda and pip packages and post-build commands run as the base image's user, with its pip
and conda. envc knows these facts for the ray family (`anyscale/ray`, `anyscale/ray-ml`,
`anyscale/ray-llm`, `rayproject/ray`, `rayproject/ray-ml`: user `ray`, uid 1000, gid 100, home
`/home/ray`, conda at `/home/ray/anaconda3`). For any other base allowed in envc.toml, state them:

    [[image]]
    match = \"ubuntu\"            # a repository pattern, as in `[base-image] allow`
    user = \"root\"
    uid = 0
    gid = 0
    home = \"/root\"
    pip = \"/usr/bin/pip3\"       # for `python.pip_packages` (default: CONDA-PREFIX/bin/pip)
    conda-prefix = \"/opt/conda\" # for `python.conda_packages`

The first `[[image]]` whose pattern matches wins, and it overrides the built-in ray facts. A spec
with only `env_vars` needs no facts.";

    CONFIG = "E050", "an invalid `envc.toml`",
"The project configuration is TOML. It knows `[base-image]` (`allow`, a list of repository
patterns such as `rayproject/*`; `mirror`, a registry host used in generated `FROM` lines for
Docker Hub images), `[[image]]` (facts about bases outside the ray family: `match`, `user`,
`uid`, `gid`, `home`, `pip`, `conda-prefix`; see `envc explain E045`) and `[warnings]` (`deny`, a
boolean; `ignore`, a list of warning codes).";

    UNQUOTED_INTEGER = "W001", "an unquoted integer environment value",
"`HF_HUB_ENABLE_HF_TRANSFER: 1` is a YAML integer, not a string. envc accepts a plain decimal
integer as the text it was written as (so `007` stays `007`), but quoting it (`\"1\"`) says what
you mean and keeps YAML tools from rewriting it.";

    UNLISTED_TAG = "W002", "a well-formed base image tag Anyscale no longer lists",
"The tag fits Anyscale's grammar but is not in Anyscale's current list of supported base images
(for example `nightly-py37`, `pinned-nightly-py37-gpu` or `1.5.0-py37`). The Dockerfile is still
generated; building on Anyscale may be refused. Move to a supported tag.";

    MUTABLE_TAG = "W003", "a base image tag that moves (`latest`, or no tag)",
"`latest` (and a reference with no tag, which means `latest`) names a different image tomorrow, so
two builds of the same spec can differ. Pin a version tag, or a digest with `@sha256:…`.";

    RAY_PIN_SKEW = "W020", "a `ray` pin that differs from the base image's Ray version",
"The base image already has Ray: `anyscale/ray:2.10.0-py310` has ray 2.10.0. An entry that pins
another Ray (`ray==2.9.0`, `ray[default]==2.9.0`, a range such as `ray<2.10` that excludes the
base's version, a ray wheel URL of another version, or a conda `ray-core=2.9`) replaces the
image's Ray with one that Anyscale's services in the image were not built for, and the cluster
may not start. Pin the base's version or leave `ray` unpinned; to change Ray, change
`base_image`. Not compared when the tag's Ray is not a release (`nightly`, `latest`).";

    PYTHON_SKEW = "W021", "a wheel or marker for a Python the base image does not have",
"The base tag names its Python (`-py310` is Python 3.10). A wheel URL whose file name is tagged for
another CPython (`…-cp311-cp311-…whl`) is refused by pip (`abi3` wheels fit their Python and
later; `py3` wheels fit any). An environment marker that excludes the base's Python
(`pkg; python_version >= \"3.11\"` on `-py310`) makes pip skip the package without an error, so
the image builds without it. Use the wheel for the base's Python, fix the marker, or choose a base
with the Python you need. Not compared when the tag names no Python.";

    CUDA_SKEW = "W022", "a CUDA build of PyTorch the base image does not provide",
"A CUDA build of `torch` (`torch==2.1.0+cu121`, a wheel URL with `+cu121`, or PyTorch's index
`https://download.pytorch.org/whl/cu121` in a post-build command) needs the CUDA it was built
for. On a `-cu118` base it is a second CUDA stack beside the image's; on a CPU base (`-cpu`, or
`anyscale/ray` with no accelerator suffix) there is no GPU support at all. A `-gpu` tag is an
alias of one `-cuNNN` image that Anyscale's tag list does not name, so envc does not compare it
(nor `anyscale/ray-ml` or `ray-llm` with no suffix, which are GPU images of unstated CUDA). Use the
base's CUDA build, or a base tagged with the CUDA you need.";

    RTE_RAY_PIN = "W023", "a runtime environment that pins `ray`",
"`envc runtime-env check --cluster-env SPEC` compares the runtime environment's `pip`, `uv` and
`conda` packages with the spec's base image. A runtime environment must not replace the Ray the
cluster runs: Ray installs the packages into a virtual environment on top of the image, and a
different `ray` there does not match the running cluster's (Ray warns about a `ray` in `pip`).
Remove the `ray` entry, or pin the base image's version.";

    RTE_NOT_A_MAP = "E060", "a runtime environment that is not a mapping",
"A Ray runtime environment is one JSON object (or YAML mapping) of fields: `working_dir`,
`py_modules`, `excludes`, `pip`, `conda`, `env_vars`, `container`/`image_uri` and `config`. A
list, a string, a number or an empty file is not a runtime environment.";

    RTE_PIP = "E061", "an invalid runtime environment `pip` field",
"`pip` is a list of requirement strings; or a string, the path of a local requirements file
(relative to the current directory), read as Ray reads it (`text.strip().split(\"\\n\")`: blank and
`#` lines are kept); or a mapping with `packages` (required: a list or a requirements file),
`pip_check` (a boolean) and `pip_version` (a string such as `==23.3.1`). The message is Ray's
own, so it reads the same as the error Ray would raise.";

    RTE_CONDA = "E062", "an invalid runtime environment `conda` field",
"`conda` is a mapping (an inline `environment.yml`); or a string ending in `.yaml` or `.yml`, a
local environment file (relative to the current directory) that must exist and be YAML; or any
other string, the name (or absolute path) of a conda environment that already exists on the
cluster's nodes.";

    RTE_PIP_AND_CONDA = "E063", "more than one of `pip`, `uv` and `conda` in one runtime environment",
"Ray refuses a runtime environment with more than one of `pip`, `uv` and `conda` (Ray 1 has no
`uv`). Put the pip packages in the conda environment instead (a `pip:` list under
`dependencies:` of the inline conda mapping), or keep one of `pip` and `uv`. Ray 2 tests presence
(`{\"pip\": [], \"conda\": \"x\"}` is refused); with `--ray 1` envc follows Ray 1, which tested
truthiness and accepted that example.";

    RTE_ENV_VARS = "E064", "an invalid runtime environment `env_vars` field",
"`env_vars` maps names to string values (`Dict[str, str]`). Ray does not convert numbers or
booleans: quote them (`\"1\"`, `\"true\"`). A name may appear only once.";

    RTE_EXCLUDES = "E065", "an invalid runtime environment `excludes` field",
"`excludes` is a list of gitignore-style patterns, rooted at the working directory. A single
pattern must still be a list: `[\"*.csv\"]`, not `\"*.csv\"`.";

    RTE_LOCATION = "E066", "an invalid `working_dir` or `py_modules` entry",
"`working_dir` is a string: at job level a local directory, a local `.zip` file or a remote URI;
`py_modules` is a list of such strings (with Ray 2 also a local `.whl` or `.py` file). Local paths
are read relative to the current directory and must exist. At task and actor level only URIs
are allowed: local code is uploaded once, with the job.";

    RTE_URI = "E067", "an unsupported or malformed runtime environment URI",
"Remote `working_dir` and `py_modules` URIs use `s3://`, `gs://` or `https://` (Ray 2 also
`file://`, `azure://` and `abfss://`; `gcs://` names a package Ray already uploaded) and must point
at a `.zip` archive (for `py_modules` under Ray 2 also a `.whl`). The archive holds one top-level
directory whose contents become the working directory.";

    RTE_CONFIG = "E068", "an invalid runtime environment `config`, `container` or `image_uri`",
"`config` is a mapping: `setup_timeout_seconds` an integer greater than zero, or -1 for no timeout
(default 600); `eager_install` a boolean (default true); `log_files` a list of strings.
`container` is a mapping and `image_uri` a string. Ray 2 runs the worker in that image, so a
non-empty `container` or `image_uri` allows no other field but `config` and `env_vars` (not
`pip`, `working_dir`, `excludes`, …): build those into the image instead.";

    RTE_MERGE = "E069", "runtime environments that cannot be merged",
"A task or actor runtime environment replaces its parent's fields (`env_vars` merge per name, the
child winning) and may not name local paths: local code is uploaded with the job. A job's
runtime environment given at submission and the one given to `ray.init` may not both set the same
field or the same environment variable: Ray refuses the conflict rather than choose.";

    BYOD_UBUNTU = "E070", "a BYOD image that is not Ubuntu 22.04",
"Anyscale's image requirements ask for an image based on `ubuntu:22.04`. `envc check-image` reads
`/etc/os-release` (through Ubuntu's symlink to `/usr/lib/os-release`) from the image's layers and
wants `ID=ubuntu` and `VERSION_ID=\"22.04\"`.";

    BYOD_USER = "E071", "a BYOD image without user `ray` (uid 1000, gid 100)",
"Anyscale runs the image's processes as user `ray`, uid 1000, primary gid 100. `envc check-image`
reads `/etc/passwd` from the image's final layers (a symlinked `/etc/passwd` is refused, not
followed). Create the user with `useradd -m -u 1000 -g 100 -s /bin/bash ray`.";

    BYOD_GROUP = "E072", "a BYOD image without a group of gid 100",
"The `ray` user's primary group is gid 100 (`users` on Ubuntu). `/etc/group` must list it.";

    BYOD_SUDO = "E073", "a BYOD image where `ray` cannot run `sudo` without a password",
"Anyscale needs `ray` to run `sudo` without a password. `envc check-image` reads `/etc/sudoers`
and, when it includes `/etc/sudoers.d`, the files there (names without `.` or a trailing `~`,
as sudo reads them), after every layer's whiteouts: a file a later layer deleted grants nothing.
As in sudo, the last rule matching `ray` (`ray`, `ALL`, `#1000` or `%GROUP` of ray's groups)
decides; it must carry `NOPASSWD:` for `ALL`. User aliases are not expanded. The usual fix is
`echo 'ray ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/ray` with mode 0440.";

    BYOD_WORKDIR = "E074", "a BYOD image whose `WORKDIR` is not `/home/ray`",
"The image config's `WorkingDir` must be `/home/ray` (`WORKDIR /home/ray`), writable by `ray`.";

    BYOD_HOME = "E075", "a BYOD image whose `HOME` is not `/home/ray`",
"`HOME` must be `/home/ray`: the config's `Env` (`ENV HOME=/home/ray`), or, when `Env` has no
`HOME`, the passwd home of the config's `User` if that is `ray` (what an engine sets at run time).";

    BYOD_PLATFORM = "E076", "a BYOD image that is not linux/amd64",
"Anyscale runs BYOD images on linux/amd64 (x86-64) machines. The config's `os` and `architecture`
must be `linux` and `amd64`; for a multi-platform image, envc checks its linux/amd64 manifest.";

    BYOD_SYSTEM_PACKAGE = "E077", "a BYOD image without a required system package",
"Anyscale's required system packages are sudo, python, bash, openssh-server, openssh-client,
rsync, zip, unzip, git, gdb and curl, read from dpkg's `/var/lib/dpkg/status` (status
`install ok installed`). `python` is met by a dpkg `python3`, `python3.N`, `python3-minimal` or
`python-is-python3`, or by a Python environment with installed packages (conda's, as in
Anyscale's own images).";

    BYOD_PYTHON_PACKAGE = "E078", "a BYOD image without a required Python package",
"Anyscale's required Python packages are ray, anyscale, packaging, boto3, google,
google-cloud-storage and jupyterlab, found by the `Name:` of any
`site-packages/*.dist-info/METADATA` (or `dist-packages`) in the image, names compared as PEP 503
normalises them.";

    BYOD_RAY_VERSION = "E079", "a BYOD image with Ray older than 2.7",
"Anyscale needs `ray>=2.7`. The version is the `Version:` of Ray's `*.dist-info/METADATA`,
compared as PEP 440 versions.";

    BYOD_RESERVED_PATH = "E080", "a BYOD image that uses a path Anyscale reserves",
"Anyscale reserves `/etc/anyscale`, `/opt/anyscale`, `/tmp/anyscale`, `/tmp/ray` and whatever is
under `/mnt/`; it mounts or writes there, hiding or clobbering what the image put there. The
diagnostic names the first such path and the layer that wrote it.";

    BYOD_PORT = "E081", "a BYOD image that exposes a port Anyscale reserves",
"Anyscale's services listen on 80, 443, 1010, 1012, 2222, 5555, 5903, 6379, 6822-6824, 6826,
7878, 8000, 8076, 8085, 8201, 8265, 8266, 8686, 8687, 8912, 8999, 9090, 9092, 9100 and
9478-9482. An `EXPOSE` of one of them in the image config is reported.";

    ANYSCALE_BYOD = "E090", "`--for anyscale` needs a `base_image` spec, not a `docker_image` one",
"`anyscale image build` only extends Anyscale's own base images (`anyscale/ray`, `anyscale/ray-ml`,
`anyscale/ray-llm`); a bring-your-own-image spec (`docker_image`) names an image built elsewhere,
which Anyscale runs as it is and never rebuilds. Register that image with Anyscale instead (it must
meet Anyscale's image requirements), or write a `base_image` spec on an Anyscale base, or compile
the spec with `--for docker` and build it with your own tools.";

    ANYSCALE_BASE = "E091", "`--for anyscale` needs an Anyscale base image",
"`anyscale image build` only extends Anyscale's base images: the `FROM` line must name
`anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm`. A spec on another base (allowed by an
`envc.toml` policy, for example `rayproject/ray`) can only be compiled `--for docker`. Pick the
Anyscale image with the same Ray and Python versions (`rayproject/ray:2.9.0-py310` →
`anyscale/ray:2.9.0-py310`).";

    ANYSCALE_BASE_REF = "E092", "`--for anyscale` needs the base as `anyscale/REPO:TAG`",
"Anyscale resolves its base images itself, by the tag, which also tells it the image's Ray
version: the `FROM` line of a Containerfile for `anyscale image build` names the base as Anyscale
lists it, `anyscale/ray:2.9.0-py310`, with no registry in front (`docker.io/`, a mirror) and no
`@sha256:` digest. Write the base that way; a registry mirror from `envc.toml` is not applied to
Containerfiles.";

    RTE_UNKNOWN_FIELD = "W010", "a runtime environment field envc does not know",
"Ray 2 keeps unknown runtime environment fields and hands them to runtime-env plugins, so envc
keeps them too, unchanged, and warns: a misspelt field (`working_directory`) would otherwise be
silently ignored. If the field is a plugin's, ignore the warning (see `[warnings] ignore` in
`envc.toml`).";

    RTE_UNKNOWN_CONFIG = "W011", "an unknown `config` entry, which Ray ignores",
"Ray reads `setup_timeout_seconds`, `eager_install` and `log_files` from a runtime environment's
`config` and ignores (with a warning) anything else; envc drops it the same way.";
}

/// Looks a code up, accepting any letter case (`e010`, `E010`).
pub fn lookup(code: &str) -> Option<&'static CodeDoc> {
    ALL.iter()
        .find(|d| d.code.0.eq_ignore_ascii_case(code.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for d in ALL {
            assert!(seen.insert(d.code.0), "duplicate {}", d.code);
            assert!(
                d.code.0.len() == 4 && (d.code.0.starts_with('E') || d.code.0.starts_with('W'))
            );
            assert!(!d.summary.is_empty() && !d.explanation.is_empty());
        }
        assert!(lookup("e010").is_some());
        // The README's table is the user-facing list: it must name every code with its summary.
        let readme = include_str!("../../README.md");
        for d in ALL {
            let row = format!("| `{}` | {} |", d.code, d.summary);
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
        assert!(lookup("E999").is_none());
    }

    /// `envc explain E002` and the README state the limits `yaml` enforces.
    #[test]
    fn limits_text_matches_the_limits() {
        use crate::input::yaml::{MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, MAX_NODES};
        fn thousands(n: usize) -> String {
            let d = n.to_string();
            let mut out = String::new();
            for (i, c) in d.chars().enumerate() {
                if i > 0 && (d.len() - i).is_multiple_of(3) {
                    out.push(',');
                }
                out.push(c);
            }
            out
        }
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let e002 = flat(lookup("E002").unwrap().explanation);
        let readme = flat(include_str!("../../README.md"));
        for fact in [
            format!("{} MiB ({} bytes)", MAX_BYTES >> 20, thousands(MAX_BYTES)),
            format!("{} YAML nodes", thousands(MAX_NODES)),
            format!("{MAX_DEPTH} levels"),
            format!("at most {} nodes", thousands(MAX_ALIAS_NODES)),
        ] {
            assert!(e002.contains(&fact), "E002 lacks {fact:?}");
            assert!(readme.contains(&fact), "README lacks {fact:?}");
        }
    }
}
