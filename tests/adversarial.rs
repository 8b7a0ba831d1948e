//! Adversarial corpus: hostile specs that must either be rejected with a located error carrying
//! the right code, or compile to a Dockerfile whose parsed instruction list is exactly the
//! expected one.
//!
//! Every case runs through the real binary: `envc check`, `envc check --format json`,
//! `envc dockerfile -o OUT` and `envc dockerfile --heredoc -o OUT`. For every invocation the exit
//! code must be 0 or 1 (never a panic's 101) and stderr must not mention `panicked`.
//!
//! * A rejected case exits 1 from every command, reports at least one error with an expected
//!   code at a `FILE:LINE:COL` position (human) and with `line`/`column` (JSON), and leaves
//!   nothing at the `-o` path.
//! * A rendered case exits 0 and its two Dockerfiles (exec-form and heredoc modes) are parsed
//!   by BuildKit's own parser through `tests/support/dfcheck.py`: the instruction kinds, their
//!   count and every value must be exactly the expected ones (ENV values are un-escaped with
//!   BuildKit's double-quote rules; package `RUN`s are split into shell words with quoting
//!   checked, so no package word can reach the shell unquoted). hadolint must be able to parse
//!   the file. When the checker's tools are missing, those assertions are skipped with a
//!   printed reason; the CLI assertions still run.
//!
//! All failures are collected and reported together, one per case.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const IMAGE: &str = "anyscale/ray:2.9.0-py310";
const HEAD: &str = "base_image: anyscale/ray:2.9.0-py310\n";
const BASH_C: [&str; 5] = ["/bin/bash", "-e", "-o", "pipefail", "-c"];
const PIP: &str = "/home/ray/anaconda3/bin/pip";
const CONDA: &str = "/home/ray/anaconda3/bin/conda";

/// Codes a control character in a field may be rejected with, besides E022.
const ENV_NAME: &[&str] = &["E022", "E020"];
const ENV_VALUE: &[&str] = &["E022"];
const DEBIAN: &[&str] = &["E022", "E030"];
const PIP_CODES: &[&str] = &["E022", "E031"];
const CONDA_CODES: &[&str] = &["E022", "E032"];
const IMAGE_CODES: &[&str] = &["E022", "E040", "E041", "E042", "E043"];
const RAY_VERSION: &[&str] = &["E022", "E044"];
const SECRET: &[&str] = &["E022"];
const POST: &[&str] = &["E022"];

/// One expected Dockerfile instruction.
#[derive(Clone, Debug)]
enum Ins {
    From(String),
    /// `SHELL ["/bin/bash", "-o", "pipefail", "-c"]`.
    Shell,
    /// `ENV NAME="…"`; the value is what BuildKit makes of the quoted word, with every variable
    /// reference written `⟨NAME⟩` and every other character literal.
    Env(String, String),
    User(String),
    /// A shell-form `RUN` whose text splits into exactly these shell words.
    Words(Vec<String>),
    /// A `RUN` that hands exactly this command to bash: shell form or exec form for a single
    /// line; exec form (default) or a heredoc (`--heredoc`) for several lines.
    Cmd(String),
}

#[derive(Clone, Debug)]
enum Expect {
    /// Rejected with at least one located error whose code is one of these.
    Reject(&'static [&'static str]),
    /// Compiled to exactly these instructions.
    Render(Vec<Ins>),
    /// Either is acceptable (the references leave the choice open).
    RejectOr(&'static [&'static str], Vec<Ins>),
}

struct Case {
    name: String,
    input: Vec<u8>,
    expect: Expect,
}

fn case(name: &str, input: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case {
        name: name.to_string(),
        input: input.into(),
        expect,
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

fn env(name: &str, value: &str) -> Ins {
    Ins::Env(s(name), s(value))
}

fn cmd(c: &str) -> Ins {
    Ins::Cmd(s(c))
}

/// A spec with only `env_vars` needs no `SHELL` (nothing runs).
fn env_prefix() -> Vec<Ins> {
    vec![Ins::From(s(IMAGE))]
}

fn std_prefix() -> Vec<Ins> {
    vec![Ins::From(s(IMAGE)), Ins::Shell]
}

fn with(mut v: Vec<Ins>, more: Vec<Ins>) -> Vec<Ins> {
    v.extend(more);
    v
}

fn apt_words(pkgs: &[&str]) -> Ins {
    let mut w: Vec<String> = [
        "apt-get",
        "update",
        "&&",
        "DEBIAN_FRONTEND=noninteractive",
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "--",
    ]
    .iter()
    .map(|x| s(x))
    .collect();
    w.extend(pkgs.iter().map(|x| s(x)));
    w.extend(
        ["&&", "rm", "-rf", "/var/lib/apt/lists/*"]
            .iter()
            .map(|x| s(x)),
    );
    Ins::Words(w)
}

fn pip_words(pkgs: &[&str]) -> Ins {
    let mut w = vec![s(PIP), s("install"), s("--no-cache-dir"), s("--")];
    w.extend(pkgs.iter().map(|x| s(x)));
    Ins::Words(w)
}

fn conda_words(pkgs: &[&str]) -> Ins {
    let mut w = vec![s(CONDA), s("install"), s("--yes"), s("--quiet"), s("--")];
    w.extend(pkgs.iter().map(|x| s(x)));
    w.extend([s("&&"), s(CONDA), s("clean"), s("--all"), s("--yes")]);
    Ins::Words(w)
}

/// A YAML double-quoted scalar holding `raw` (control characters as escapes).
fn dq(raw: &str) -> String {
    let mut out = String::from("\"");
    for ch in raw.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();

    // ---- Control characters in every single-line field -------------------------------------
    let controls = [("lf", "\n"), ("cr", "\r"), ("nul", "\0"), ("crlf", "\r\n")];
    for (cname, c) in controls {
        let smuggle = format!("x{c}USER root");
        v.push(case(
            &format!("env_value_{cname}_user_root"),
            format!("{HEAD}env_vars:\n  X: {}\n", dq(&smuggle)),
            Expect::Reject(ENV_VALUE),
        ));
        v.push(case(
            &format!("env_name_{cname}"),
            format!("{HEAD}env_vars:\n  {}: x\n", dq(&format!("A{c}USER root"))),
            Expect::Reject(ENV_NAME),
        ));
        v.push(case(
            &format!("debian_{cname}"),
            format!(
                "{HEAD}debian_packages:\n  - {}\n",
                dq(&format!("vim{c}USER root"))
            ),
            Expect::Reject(DEBIAN),
        ));
        v.push(case(
            &format!("pip_{cname}"),
            format!(
                "{HEAD}python:\n  pip_packages:\n    - {}\n",
                dq(&format!("six{c}USER root"))
            ),
            Expect::Reject(PIP_CODES),
        ));
        v.push(case(
            &format!("conda_{cname}"),
            format!(
                "{HEAD}python:\n  conda_packages:\n    - {}\n",
                dq(&format!("numpy{c}USER root"))
            ),
            Expect::Reject(CONDA_CODES),
        ));
        v.push(case(
            &format!("base_image_{cname}"),
            format!("base_image: {}\n", dq(&format!("{IMAGE}{c}USER root"))),
            Expect::Reject(IMAGE_CODES),
        ));
        v.push(case(
            &format!("docker_image_{cname}"),
            format!(
                "docker_image: {}\nray_version: 2.9.0\n",
                dq(&format!("my.registry.io/team/img:1.0{c}USER root"))
            ),
            Expect::Reject(IMAGE_CODES),
        ));
        v.push(case(
            &format!("ray_version_{cname}"),
            format!(
                "docker_image: my.registry.io/team/img:1.0\nray_version: {}\n",
                dq(&format!("2.9.0{c}USER root"))
            ),
            Expect::Reject(RAY_VERSION),
        ));
        v.push(case(
            &format!("registry_login_secret_{cname}"),
            format!(
                "docker_image: my.registry.io/team/img:1.0\nray_version: 2.9.0\n\
                 registry_login_secret: {}\n",
                dq(&format!("my-secret{c}USER root"))
            ),
            Expect::Reject(SECRET),
        ));
        if c != "\n" {
            // A line feed makes a post-build command multi-line (allowed, below); CR and NUL
            // never belong in a single-line command.
            v.push(case(
                &format!("post_build_single_line_{cname}"),
                format!(
                    "{HEAD}post_build_cmds:\n  - {}\n",
                    dq(&format!("echo hi{c}USER root"))
                ),
                Expect::Reject(POST),
            ));
        }
    }
    v.push(case(
        "post_build_multi_line_nul",
        format!(
            "{HEAD}post_build_cmds:\n  - {}\n",
            dq("echo a\necho b\0c\n")
        ),
        Expect::Reject(POST),
    ));
    v.push(case(
        "post_build_multi_line_cr",
        format!(
            "{HEAD}post_build_cmds:\n  - {}\n",
            dq("echo a\r\necho b\r\n")
        ),
        Expect::RejectOr(
            POST,
            with(
                std_prefix(),
                vec![Ins::User(s("1000")), cmd("echo a\r\necho b\r\n")],
            ),
        ),
    ));
    v.push(case(
        "env_value_block_scalar_user_root",
        format!("{HEAD}env_vars:\n  X: |\n    x\n    USER root\n"),
        Expect::Reject(ENV_VALUE),
    ));

    // ---- ENV values: quotes, dollars, backslashes, shell syntax ---------------------------
    v.push(case(
        "env_value_quote_backslash_dollar",
        format!("{HEAD}env_vars:\n  X: 'a\"b\\c$$d'\n"),
        Expect::Render(with(env_prefix(), vec![env("X", "a\"b\\c$d")])),
    ));
    v.push(case(
        "env_value_trailing_backslash",
        format!("{HEAD}env_vars:\n  X: 'C:\\'\n  Y: after\n"),
        Expect::Render(with(
            env_prefix(),
            vec![env("X", "C:\\"), env("Y", "after")],
        )),
    ));
    v.push(case(
        "env_value_shell_syntax",
        format!("{HEAD}env_vars:\n  X: 'a`id`;b && c || d > /etc/passwd #e'\n"),
        Expect::Render(with(
            env_prefix(),
            vec![env("X", "a`id`;b && c || d > /etc/passwd #e")],
        )),
    ));
    v.push(case(
        "env_value_hash_start",
        format!("{HEAD}env_vars:\n  X: '#not a comment'\n"),
        Expect::Render(with(env_prefix(), vec![env("X", "#not a comment")])),
    ));
    v.push(case(
        "env_value_leading_dash",
        format!("{HEAD}env_vars:\n  X: '--flag=1 -rf'\n"),
        Expect::Render(with(env_prefix(), vec![env("X", "--flag=1 -rf")])),
    ));
    v.push(case(
        "env_value_dollar_mix",
        format!("{HEAD}env_vars:\n  X: '$$$HOME-$$$$-${{HOME}}x$HOME_'\n"),
        Expect::Render(with(
            env_prefix(),
            vec![env("X", "$⟨HOME⟩-$$-⟨HOME⟩x⟨HOME_⟩")],
        )),
    ));
    v.push(case(
        "env_value_reference_chain",
        format!("{HEAD}env_vars:\n  P: /opt/bin:$PATH\n  Q: '${{P}}!'\n"),
        Expect::Render(with(
            env_prefix(),
            vec![env("P", "/opt/bin:⟨PATH⟩"), env("Q", "⟨P⟩!")],
        )),
    ));
    v.push(case(
        "env_value_tab",
        format!("{HEAD}env_vars:\n  X: \"a\\tb\"\n"),
        Expect::Render(with(env_prefix(), vec![env("X", "a\tb")])),
    ));
    v.push(case(
        "env_value_single_quote_and_spaces",
        format!("{HEAD}env_vars:\n  X: \"it's  two  spaces \"\n"),
        Expect::Render(with(env_prefix(), vec![env("X", "it's  two  spaces ")])),
    ));
    for (name, value) in [
        ("default", "${X:-y}"),
        ("alternative", "${X:+y}"),
        ("prefix_strip", "${X#y}"),
        ("command_substitution", "$(id)"),
        ("positional", "$1"),
        ("trailing", "abc$"),
        ("unclosed_brace", "${X"),
    ] {
        v.push(case(
            &format!("env_value_dollar_{name}"),
            format!("{HEAD}env_vars:\n  X: '{value}'\n"),
            Expect::Reject(&["E023"]),
        ));
    }

    // ---- ENV names -------------------------------------------------------------------------
    for (name, key) in [
        ("space", "'A B'"),
        ("equals", "'A=B'"),
        ("leading_digit", "1X"),
        ("leading_dash", "'-X'"),
        ("dollar", "'A$B'"),
        ("quote", "'A\"B'"),
        ("semicolon", "'A;id'"),
        ("user_root", "'USER root'"),
    ] {
        v.push(case(
            &format!("env_name_{name}"),
            format!("{HEAD}env_vars:\n  {key}: x\n"),
            Expect::Reject(&["E020"]),
        ));
    }

    // ---- Debian entries ---------------------------------------------------------------------
    for (name, entry, codes) in [
        (
            "leading_dash_option",
            "'-oAPT::Get::AllowUnauthenticated=1'",
            &["E033"][..],
        ),
        ("leading_double_dash", "--allow-unauthenticated", &["E033"]),
        ("trailing_dash_remove", "vim-", &["E030"]),
        ("hash_word_start", "'#x'", &["E030"]),
        ("semicolon", "'vim;id'", &["E030"]),
        ("and_and", "'vim&&id'", &["E030"]),
        ("backtick", "'vim`id`'", &["E030"]),
        ("command_substitution", "'vim$(id)'", &["E030"]),
        ("double_quote", "'vim\"'", &["E030"]),
        ("backslash", "'vim\\'", &["E030"]),
        ("space", "'vim curl'", &["E030"]),
        ("redirect", "'vim>/etc/passwd'", &["E030"]),
        ("glob", "'vim*'", &["E030"]),
        ("tab", "\"vim\\tcurl\"", &["E030", "E022"]),
        // apt-get strips a trailing `-` after the arch, version or release too: a removal.
        ("arch_trailing_dash_remove", "sudo:amd64-", &["E030"]),
        (
            "version_trailing_dash_remove",
            "sudo=1.9.13p3-1+deb12u4-",
            &["E030"],
        ),
        ("release_trailing_dash_remove", "sudo/bookworm-", &["E030"]),
        (
            "version_and_release",
            "sudo=1.9.13p3-1+deb12u4/bookworm",
            &["E030"],
        ),
        (
            "arch_after_version",
            "'sudo=1.9.13p3-1+deb12u4:amd64'",
            &["E030"],
        ),
        // apt-get would read it as a regular expression (525 packages on Debian 12).
        ("name_ends_with_dot_regex", "sudo.", &["E030"]),
    ] {
        v.push(case(
            &format!("debian_{name}"),
            format!("{HEAD}debian_packages:\n  - {entry}\n"),
            Expect::Reject(codes),
        ));
    }
    v.push(case(
        "debian_valid_odd_forms",
        format!(
            "{HEAD}debian_packages:\n  - libstdc++6\n  - vim=2:8.1.2269-1ubuntu5\n  - g++\n  \
             - python3.11/bookworm\n  - libc6:amd64\n  - sudo:amd64=1.9.13p3-1+deb12u4\n  \
             - curl:amd64/bookworm\n  - less+\n"
        ),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("root")),
                apt_words(&[
                    "libstdc++6",
                    "vim=2:8.1.2269-1ubuntu5",
                    "g++",
                    "python3.11/bookworm",
                    "libc6:amd64",
                    "sudo:amd64=1.9.13p3-1+deb12u4",
                    "curl:amd64/bookworm",
                    "less+",
                ]),
                Ins::User(s("1000")),
            ],
        )),
    ));

    // ---- pip entries ------------------------------------------------------------------------
    for (name, entry, codes) in [
        (
            "leading_dash_index_url",
            "'--index-url=http://evil.example/simple'",
            &["E033"][..],
        ),
        ("leading_dash_editable", "'-e .'", &["E033"]),
        ("hash_word_start", "'#x'", &["E031"]),
        ("semicolon_command", "'six; id'", &["E031"]),
        ("and_and", "'six && id'", &["E031"]),
        ("backtick", "'six`id`'", &["E031"]),
        ("command_substitution", "'six$(id)'", &["E031"]),
        ("two_words", "'six requests'", &["E031"]),
        // pip reads a name with an archive extension as a local file.
        ("local_archive_name", "six.whl", &["E031"]),
    ] {
        v.push(case(
            &format!("pip_{name}"),
            format!("{HEAD}python:\n  pip_packages:\n    - {entry}\n"),
            Expect::Reject(codes),
        ));
    }
    v.push(case(
        "pip_valid_quoting_forms",
        format!(
            "{HEAD}python:\n  pip_packages:\n    - 'requests[security]>=2.8.1,==2.8.*; python_version<\"3.7\"'\n    \
             - six>1\n    - 'pkg @ https://example.com/pkg-1.0-py3-none-any.whl'\n    \
             - \"tomli; python_version < '3.11'\"\n    - foo===weird\n    \
             - git+git://github.com/org/repo.git@v1#egg=repo\n"
        ),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("1000")),
                pip_words(&[
                    "requests[security]>=2.8.1,==2.8.*; python_version<\"3.7\"",
                    "six>1",
                    "pkg @ https://example.com/pkg-1.0-py3-none-any.whl",
                    "tomli; python_version < '3.11'",
                    "foo===weird",
                    "git+git://github.com/org/repo.git@v1#egg=repo",
                ]),
            ],
        )),
    ));

    // ---- conda entries ----------------------------------------------------------------------
    for (name, entry, codes) in [
        ("leading_dash", "--override-channels", &["E033"][..]),
        ("hash_word_start", "'#x'", &["E032"]),
        ("semicolon", "'numpy;id'", &["E032"]),
        ("command_substitution", "'numpy$(id)'", &["E032"]),
        ("backtick", "'numpy`id`'", &["E032"]),
        // conda reads these as package files: a local one is not in the image, and one URL
        // beside a MatchSpec makes `conda install` refuse the lot.
        (
            "local_package_file",
            "numpy-1.26.0-py310_0.tar.bz2",
            &["E032"],
        ),
        (
            "package_file_beside_matchspec",
            "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.0-py310_0.conda\n    - six",
            &["E032"],
        ),
    ] {
        v.push(case(
            &format!("conda_{name}"),
            format!("{HEAD}python:\n  conda_packages:\n    - {entry}\n"),
            Expect::Reject(codes),
        ));
    }
    v.push(case(
        "conda_valid_quoting_forms",
        format!(
            "{HEAD}python:\n  conda_packages:\n    - conda-forge::numpy>=1.2\n    \
             - \"numpy[version='>=1.2']\"\n    - numpy 1.11.* py_0\n    \
             - numpy=1.26=py310_0\n    - pytorch=2.1.0=py3.10_cuda11.8_cudnn8.7.0_0\n    \
             - numpy=1.26=*_0\n    - python=3.10.*\n"
        ),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("1000")),
                conda_words(&[
                    "conda-forge::numpy>=1.2",
                    "numpy[version='>=1.2']",
                    "numpy 1.11.* py_0",
                    "numpy=1.26=py310_0",
                    "pytorch=2.1.0=py3.10_cuda11.8_cudnn8.7.0_0",
                    "numpy=1.26=*_0",
                    "python=3.10.*",
                ]),
            ],
        )),
    ));

    v.push(case(
        "conda_package_file_urls_alone",
        format!(
            "{HEAD}python:\n  conda_packages:\n    \
             - https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.0-py310_0.conda\n"
        ),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("1000")),
                conda_words(&[
                    "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.0-py310_0.conda",
                ]),
            ],
        )),
    ));

    // ---- Images and BYOD fields -------------------------------------------------------------
    for (name, image) in [
        ("as_stage", "'anyscale/ray:2.9.0-py310 AS x'"),
        ("semicolon", "'anyscale/ray:2.9.0-py310;id'"),
        (
            "platform_flag",
            "'--platform=linux/amd64 anyscale/ray:2.9.0-py310'",
        ),
        ("variable", "'$IMAGE'"),
        ("hash", "'#anyscale/ray:2.9.0-py310'"),
    ] {
        v.push(case(
            &format!("base_image_{name}"),
            format!("base_image: {image}\n"),
            Expect::Reject(&["E040", "E041", "E042", "E043", "E033"]),
        ));
        v.push(case(
            &format!("docker_image_{name}"),
            format!("docker_image: {image}\nray_version: 2.9.0\n"),
            Expect::Reject(&["E040", "E041", "E042", "E043", "E033"]),
        ));
    }
    v.push(case(
        "ray_version_shell",
        "docker_image: my.registry.io/team/img:1.0\nray_version: '2.9.0;id'\n",
        Expect::Reject(&["E044"]),
    ));
    v.push(case(
        "byod_env_value_smuggle",
        format!(
            "docker_image: my.registry.io/team/img:1.0\nray_version: 2.9.0\nenv_vars:\n  X: {}\n",
            dq("x\nUSER root")
        ),
        Expect::Reject(ENV_VALUE),
    ));
    v.push(case(
        "byod_quoting",
        "docker_image: my.registry.io/team/img:1.0\nray_version: 2.9.0\n\
         registry_login_secret: 'my-secret'\nenv_vars:\n  X: 'a\"b\\c$$d`id`'\n",
        Expect::Render(vec![
            Ins::From(s("my.registry.io/team/img:1.0")),
            env("X", "a\"b\\c$d`id`"),
        ]),
    ));

    // ---- Post-build commands ----------------------------------------------------------------
    let shell_soup = r#"echo "a" 'b' `id` $(id) $HOME; true && false || true > /dev/null \ x"#;
    v.push(case(
        "post_build_shell_soup",
        format!("{HEAD}post_build_cmds:\n  - {}\n", dq(shell_soup)),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd(shell_soup)],
        )),
    ));
    v.push(case(
        "post_build_trailing_backslash",
        format!("{HEAD}post_build_cmds:\n  - echo hi \\\n  - echo next\n"),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd("echo hi \\"), cmd("echo next")],
        )),
    ));
    v.push(case(
        "post_build_lf_user_root",
        format!("{HEAD}post_build_cmds:\n  - {}\n", dq("echo hi\nUSER root")),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd("echo hi\nUSER root")],
        )),
    ));
    v.push(case(
        "post_build_leading_mount_flag",
        format!(
            "{HEAD}post_build_cmds:\n  - '--mount=type=bind,source=/,target=/h cat /h/etc/shadow'\n"
        ),
        Expect::RejectOr(
            &["E033"],
            with(
                std_prefix(),
                vec![
                    Ins::User(s("1000")),
                    cmd("--mount=type=bind,source=/,target=/h cat /h/etc/shadow"),
                ],
            ),
        ),
    ));
    v.push(case(
        "post_build_json_array_text",
        format!("{HEAD}post_build_cmds:\n  - '[\"/bin/sh\", \"-c\", \"id\"]'\n"),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd("[\"/bin/sh\", \"-c\", \"id\"]")],
        )),
    ));
    v.push(case(
        "post_build_hash_start",
        format!("{HEAD}post_build_cmds:\n  - '# just a comment; USER root'\n  - echo after\n"),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("1000")),
                cmd("# just a comment; USER root"),
                cmd("echo after"),
            ],
        )),
    ));
    v.push(case(
        "post_build_empty",
        format!("{HEAD}post_build_cmds:\n  - ''\n"),
        Expect::Reject(&["E024"]),
    ));
    let body = "set -x\nif [ -n \"$HOME\" ]; then echo \"$HOME\" \\\n  `id -u`; fi\n\
                cat <<'EOF' > /tmp/x\n$literal \\ \"quoted\"\nEOF\n";
    v.push(case(
        "post_build_multi_line_block",
        format!(
            "{HEAD}post_build_cmds:\n  - |\n{}",
            body.lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        ),
        Expect::Render(with(std_prefix(), vec![Ins::User(s("1000")), cmd(body)])),
    ));
    let strip_body = "echo one\necho two";
    v.push(case(
        "post_build_multi_line_strip_chomp",
        format!("{HEAD}post_build_cmds:\n  - |-\n    echo one\n    echo two\n  - echo three\n"),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd(strip_body), cmd("echo three")],
        )),
    ));
    let delim_body = "echo start\nENVC_EOF\nUSER root\nRUN id\nENVC_EOF_1\necho end\n";
    v.push(case(
        "post_build_heredoc_body_has_delimiter",
        format!(
            "{HEAD}post_build_cmds:\n  - |\n{}  - echo after\n",
            delim_body
                .lines()
                .map(|l| format!("    {l}\n"))
                .collect::<String>()
        ),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd(delim_body), cmd("echo after")],
        )),
    ));
    let indented_delim = "echo start\n  ENVC_EOF\nENVC_EOF \necho end\n";
    v.push(case(
        "post_build_heredoc_body_near_delimiter",
        format!("{HEAD}post_build_cmds:\n  - {}\n", dq(indented_delim)),
        Expect::Render(with(
            std_prefix(),
            vec![Ins::User(s("1000")), cmd(indented_delim)],
        )),
    ));

    // ---- Everything at once, in one valid spec --------------------------------------------
    v.push(case(
        "full_spec_order_no_smuggled_instructions",
        format!(
            "{HEAD}env_vars:\n  A: 'x\"; USER root; RUN id #'\ndebian_packages:\n  - jq\n\
             python:\n  conda_packages:\n    - numpy\n  pip_packages:\n    - six\n\
             post_build_cmds:\n  - echo done\n"
        ),
        Expect::Render(with(
            std_prefix(),
            vec![
                env("A", "x\"; USER root; RUN id #"),
                Ins::User(s("root")),
                apt_words(&["jq"]),
                Ins::User(s("1000")),
                conda_words(&["numpy"]),
                pip_words(&["six"]),
                cmd("echo done"),
            ],
        )),
    ));
    v.push(case(
        "crlf_line_endings",
        format!("{HEAD}env_vars:\n  A: one\n  B: two\n").replace('\n', "\r\n"),
        Expect::Render(with(env_prefix(), vec![env("A", "one"), env("B", "two")])),
    ));

    // ---- YAML-level attacks -----------------------------------------------------------------
    let mut laughs =
        format!("{HEAD}env_vars:\n  A: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (i, name) in ["B", "C", "D", "E", "F", "G", "H", "I", "J"]
        .iter()
        .enumerate()
    {
        let prev = (b'a' + i as u8) as char;
        let me = (b'b' + i as u8) as char;
        let refs = vec![format!("*{prev}"); 9].join(", ");
        let _ = writeln!(laughs, "  {name}: &{me} [{refs}]");
    }
    v.push(case(
        "yaml_billion_laughs",
        laughs,
        Expect::Reject(&["E002"]),
    ));
    let mut keys_bomb = format!("{HEAD}debian_packages: &a [jq, jq, jq, jq, jq, jq, jq, jq]\n");
    keys_bomb.push_str("env_vars:\n");
    for i in 0..40 {
        let _ = writeln!(keys_bomb, "  V{i}: *a");
    }
    v.push(case(
        "yaml_alias_fanout_wrong_type",
        keys_bomb,
        Expect::Reject(&["E021", "E012", "E002"]),
    ));
    // Merge keys read as PyYAML reads them; through them, aliases keep their budget.
    v.push(case(
        "yaml_merge_key_env_vars",
        format!(
            "{HEAD}x-common: &common\n  A: \"1\"\n  B: one\nenv_vars:\n  <<: *common\n  \
             B: \"2\"\n  C: three\n"
        ),
        Expect::Render(with(
            env_prefix(),
            vec![env("A", "1"), env("B", "2"), env("C", "three")],
        )),
    ));
    v.push(case(
        "yaml_extension_key_anchor",
        format!("x-pkgs: &pkgs [jq, curl]\n{HEAD}debian_packages: *pkgs\n"),
        Expect::Render(with(
            std_prefix(),
            vec![
                Ins::User(s("root")),
                apt_words(&["jq", "curl"]),
                Ins::User(s("1000")),
            ],
        )),
    ));
    v.push(case(
        "yaml_merge_key_scalar",
        format!("{HEAD}env_vars: {{<<: oops}}\n"),
        Expect::Reject(&["E001"]),
    ));
    // Merged keys replace one another, so merging one mapping nine times over, ten levels
    // deep, stays small: fifteen variables, as PyYAML reads it at three levels (at ten, PyYAML's
    // flattening takes exponential time).
    let mut merges = format!("{HEAD}x-0: &m0 {{A: a, B: b, C: c, D: d, E: e, F: f}}\n");
    for i in 1..10 {
        let refs = vec![format!("*m{}", i - 1); 9].join(", ");
        let _ = writeln!(merges, "x-{i}: &m{i} {{<<: [{refs}], K{i}: k}}");
    }
    merges.push_str("env_vars: {<<: *m9}\n");
    let mut want: Vec<Ins> = ["A", "B", "C", "D", "E", "F"]
        .iter()
        .map(|n| env(n, &n.to_lowercase()))
        .collect();
    want.extend((1..10).map(|i| env(&format!("K{i}"), "k")));
    v.push(case(
        "yaml_merge_keys_do_not_multiply",
        merges,
        Expect::Render(with(env_prefix(), want)),
    ));
    // Aliases beside the merge keys still multiply, and meet the alias budget.
    let mut merge_bomb = format!("{HEAD}x-0: &m0 {{A: [a, a, a, a, a, a, a, a, a, a]}}\n");
    for i in 1..10 {
        let refs = vec![format!("*m{}", i - 1); 10].join(", ");
        let _ = writeln!(
            merge_bomb,
            "x-{i}: &m{i} {{<<: *m{p}, L: [{refs}]}}",
            p = i - 1
        );
    }
    merge_bomb.push_str("env_vars: {<<: *m9}\n");
    v.push(case(
        "yaml_merge_key_alias_bomb",
        merge_bomb,
        Expect::Reject(&["E002"]),
    ));
    let mut nested = format!("{HEAD}env_vars:\n");
    for depth in 1..=100 {
        let _ = writeln!(nested, "{}k{depth}:", "  ".repeat(depth));
    }
    v.push(case(
        "yaml_nesting_100_block",
        nested,
        Expect::Reject(&["E002"]),
    ));
    v.push(case(
        "yaml_nesting_100_flow",
        format!(
            "{HEAD}debian_packages: {}jq{}\n",
            "[".repeat(100),
            "]".repeat(100)
        ),
        Expect::Reject(&["E002"]),
    ));
    v.push(case(
        "yaml_nesting_10000_flow",
        format!(
            "{HEAD}debian_packages: {}jq{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        ),
        Expect::Reject(&["E002"]),
    ));
    v.push(case("file_50_mb", big_file(), Expect::Reject(&["E002"])));
    let mut bad = format!("{HEAD}env_vars:\n  A: caf").into_bytes();
    bad.extend_from_slice(b"\xe9\n");
    v.push(case("invalid_utf8_latin1", bad, Expect::Reject(&["E003"])));
    let mut bad = HEAD.as_bytes().to_vec();
    bad.extend_from_slice(b"# comment \xc3\x28 \xed\xa0\x80 \xff\xfe\n");
    v.push(case(
        "invalid_utf8_in_comment",
        bad,
        Expect::Reject(&["E003"]),
    ));
    let mut bad = b"\xff\xfeb\x00".to_vec();
    bad.extend_from_slice(HEAD.as_bytes());
    v.push(case(
        "invalid_utf8_utf16_bom",
        bad,
        Expect::Reject(&["E003"]),
    ));
    v.push(case(
        "raw_nul_byte",
        format!("{HEAD}env_vars:\n  A: a\0b\n"),
        Expect::Reject(&["E001", "E003", "E022"]),
    ));
    v.push(case(
        "duplicate_top_level_key",
        format!("{HEAD}debian_packages: [jq]\nbase_image: anyscale/ray:2.9.0-py311\n"),
        Expect::Reject(&["E011"]),
    ));
    v.push(case(
        "duplicate_env_key",
        format!("{HEAD}env_vars:\n  A: one\n  A: two\n"),
        Expect::Reject(&["E011"]),
    ));
    v.push(case(
        "duplicate_env_key_differently_quoted",
        format!("{HEAD}env_vars:\n  A: one\n  \"A\": two\n"),
        Expect::Reject(&["E011"]),
    ));
    v.push(case(
        "duplicate_python_key",
        format!("{HEAD}python:\n  pip_packages: [six]\n  pip_packages: [requests]\n"),
        Expect::Reject(&["E011"]),
    ));
    v.push(case(
        "duplicate_byod_key",
        "docker_image: my.registry.io/team/img:1.0\nray_version: 2.9.0\nray_version: 2.10.0\n",
        Expect::Reject(&["E011"]),
    ));
    v.push(case(
        "tab_indentation",
        format!("{HEAD}env_vars:\n\tA: one\n"),
        Expect::Reject(&["E001"]),
    ));
    v.push(case(
        "tab_indentation_list",
        format!("{HEAD}debian_packages:\n\t- jq\n"),
        Expect::Reject(&["E001"]),
    ));
    v.push(case(
        "unknown_key_with_newline",
        format!("{HEAD}{}: x\n", dq("debian_packages\nUSER root")),
        Expect::Reject(&["E010", "E022"]),
    ));
    v
}

/// A syntactically valid spec padded with comments to 50 MB.
fn big_file() -> Vec<u8> {
    const SIZE: usize = 50 * 1024 * 1024;
    let mut out = Vec::with_capacity(SIZE + 128);
    out.extend_from_slice(HEAD.as_bytes());
    let line = format!("# {}\n", "x".repeat(1021));
    while out.len() < SIZE {
        out.extend_from_slice(line.as_bytes());
    }
    out
}

// ---- Running envc ------------------------------------------------------------------------

fn envc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_envc"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run envc")
}

/// Exit 0 or 1 and no panic message; returns the exit code.
fn sane(out: &Output, what: &str, fails: &mut Vec<String>) -> Option<i32> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        fails.push(format!("{what}: panicked: {}", first_lines(&stderr)));
    }
    match out.status.code() {
        Some(c @ (0 | 1)) => Some(c),
        other => {
            fails.push(format!(
                "{what}: exit {other:?} (want 0 or 1); stderr: {}",
                first_lines(&stderr)
            ));
            None
        }
    }
}

fn first_lines(s: &str) -> String {
    let mut t: String = s.lines().take(8).collect::<Vec<_>>().join(" | ");
    if t.len() > 600 {
        let mut cut = 600;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push('…');
    }
    t
}

/// The human diagnostics contain `FILE:LINE:COL: error[CODE]` for one of `codes`.
fn located_human(stderr: &str, file: &str, codes: &[&str]) -> bool {
    stderr.lines().any(|line| {
        codes.iter().any(|code| {
            let marker = format!(": error[{code}]:");
            let Some(at) = line.find(&marker) else {
                return false;
            };
            let Some(rest) = line[..at].strip_prefix(file) else {
                return false;
            };
            let mut parts = rest.split(':');
            matches!(
                (parts.next(), parts.next(), parts.next(), parts.next()),
                (Some(""), Some(l), Some(c), None)
                    if l.parse::<u64>().is_ok_and(|n| n >= 1)
                        && c.parse::<u64>().is_ok_and(|n| n >= 1)
            )
        })
    })
}

/// The JSON diagnostics hold an error with one of `codes` and a line and column.
fn located_json(stdout: &[u8], codes: &[&str]) -> Result<(), String> {
    let doc: Value =
        serde_json::from_slice(stdout).map_err(|e| format!("stdout is not JSON: {e}"))?;
    let diags = doc["diagnostics"]
        .as_array()
        .ok_or("no `diagnostics` array")?;
    let found = diags.iter().any(|d| {
        d["severity"] == "error"
            && d["code"].as_str().is_some_and(|c| codes.contains(&c))
            && d["line"].as_u64().is_some_and(|n| n >= 1)
            && d["column"].as_u64().is_some_and(|n| n >= 1)
    });
    if found {
        Ok(())
    } else {
        let seen: Vec<String> = diags
            .iter()
            .map(|d| format!("{}@{}:{}", d["code"], d["line"], d["column"]))
            .collect();
        Err(format!(
            "no located error with code {codes:?}; diagnostics: {}",
            seen.join(", ")
        ))
    }
}

struct Rendered {
    case: usize,
    heredoc: bool,
    path: PathBuf,
}

/// Runs the CLI side of a case. Returns the Dockerfiles to parse (for rendered cases).
fn run_case(
    idx: usize,
    c: &Case,
    dir: &Path,
    fails: &mut Vec<String>,
    rendered: &mut Vec<Rendered>,
) {
    let spec = dir.join(format!("{}.yaml", c.name));
    fs::write(&spec, &c.input).expect("write spec");
    let spec_s = spec.to_str().expect("utf-8 temp path");

    let human = envc(&["check", spec_s]);
    let Some(code) = sane(&human, "check", fails) else {
        return;
    };
    let json = envc(&["check", "--format", "json", spec_s]);
    let json_code = sane(&json, "check --format json", fails);
    let stderr = String::from_utf8_lossy(&human.stderr);

    // The codes a rejection must carry; `None` when the case must render.
    let codes = match &c.expect {
        Expect::Reject(codes) => Some(*codes),
        Expect::Render(_) => None,
        Expect::RejectOr(codes, _) => (code == 1).then_some(*codes),
    };

    for heredoc in [false, true] {
        let out = dir.join(format!(
            "{}{}.Dockerfile",
            c.name,
            if heredoc { ".heredoc" } else { "" }
        ));
        let _ = fs::remove_file(&out);
        let out_s = out.to_str().expect("utf-8 temp path");
        let mut args = vec!["dockerfile"];
        if heredoc {
            args.push("--heredoc");
        }
        args.extend([spec_s, "-o", out_s]);
        let what = args[..args.len() - 3].join(" ");
        let res = envc(&args);
        let Some(dcode) = sane(&res, &what, fails) else {
            continue;
        };
        if codes.is_some() {
            if dcode != 1 {
                fails.push(format!("{what}: exit {dcode}, want 1 (rejected)"));
            }
            if out.exists() {
                fails.push(format!(
                    "{what}: wrote {out_s} although the spec is rejected"
                ));
            }
        } else if dcode != 0 {
            fails.push(format!(
                "{what}: exit {dcode}, want 0; stderr: {}",
                first_lines(&String::from_utf8_lossy(&res.stderr))
            ));
        } else if !out.exists() {
            fails.push(format!("{what}: exit 0 but nothing at -o"));
        } else {
            rendered.push(Rendered {
                case: idx,
                heredoc,
                path: out,
            });
        }
    }

    // Do not keep the 50 MB input around, even when the case fails.
    if c.input.len() > 1 << 20 {
        let _ = fs::remove_file(&spec);
    }

    if let Some(codes) = codes {
        if code != 1 {
            fails.push(format!("check: exit {code}, want 1 (expected {codes:?})"));
            return;
        }
        if !located_human(&stderr, spec_s, codes) {
            fails.push(format!(
                "check: no `FILE:LINE:COL: error[{}]` line; stderr: {}",
                codes.join("|"),
                first_lines(&stderr)
            ));
        }
        if json_code != Some(1) {
            fails.push(format!("check --format json: exit {json_code:?}, want 1"));
        }
        if let Err(e) = located_json(&json.stdout, codes) {
            fails.push(format!("check --format json: {e}"));
        }
    } else {
        if code != 0 {
            fails.push(format!(
                "check: exit {code}, want 0 (valid); stderr: {}",
                first_lines(&stderr)
            ));
        }
    }
}

// ---- Interpreting BuildKit's parse ------------------------------------------------------

/// What BuildKit makes of an ENV word as envc writes it: double-quoted runs (escapes resolved by
/// BuildKit's double-quote rules) joined by bare `\\` escapes (envc writes a backslash that
/// precedes a quote or ends the value outside the quotes, for hadolint's sake); references are
/// written `⟨NAME⟩`. Any other bare text is an error.
fn env_word(raw: &str) -> Result<String, String> {
    if !raw.starts_with('"') || !raw.ends_with('"') || raw.len() < 2 {
        return Err(format!(
            "ENV value {raw:?} does not start and end with a double quote"
        ));
    }
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quoted = false;
    while i < chars.len() {
        if !quoted {
            match (chars[i], chars.get(i + 1)) {
                ('"', _) => {
                    quoted = true;
                    i += 1;
                }
                ('\\', Some('\\')) => {
                    out.push('\\');
                    i += 2;
                }
                (c, _) => return Err(format!("{raw:?}: unquoted {c:?} outside the quotes")),
            }
            continue;
        }
        match chars[i] {
            '\\' => {
                let next = chars
                    .get(i + 1)
                    .ok_or_else(|| format!("{raw:?}: escapes the closing quote"))?;
                if matches!(next, '"' | '$' | '\\') {
                    out.push(*next);
                    i += 2;
                } else {
                    out.push('\\');
                    i += 1;
                }
            }
            '"' => {
                quoted = false;
                i += 1;
            }
            '$' => {
                let name_ok = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
                if chars.get(i + 1) == Some(&'{') {
                    let start = i + 2;
                    let mut j = start;
                    while j < chars.len() && name_ok(&chars[j]) {
                        j += 1;
                    }
                    if j == start || chars.get(j) != Some(&'}') {
                        return Err(format!("{raw:?}: `${{…}}` form other than a reference"));
                    }
                    let name: String = chars[start..j].iter().collect();
                    let _ = write!(out, "⟨{name}⟩");
                    i = j + 1;
                } else if chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
                {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && name_ok(&chars[j]) {
                        j += 1;
                    }
                    let name: String = chars[start..j].iter().collect();
                    let _ = write!(out, "⟨{name}⟩");
                    i = j;
                } else {
                    return Err(format!("{raw:?}: bare `$` BuildKit may interpret"));
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if quoted {
        return Err(format!("{raw:?}: unterminated quote"));
    }
    Ok(out)
}

/// Splits shell text into words, failing on anything the shell would interpret besides a
/// standalone `&&` (expansions, redirections, separators, comments, unquoted globs other than
/// the one `rm` argument envc writes).
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '&'
            && chars.get(i + 1) == Some(&'&')
            && chars.get(i + 2).is_none_or(|c| c.is_whitespace())
        {
            words.push(s("&&"));
            i += 2;
            continue;
        }
        if chars[i] == '#' {
            return Err(format!("a comment starts at {:?}", tail(&chars, i)));
        }
        let mut word = String::new();
        let mut globbed = false;
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '\'' => {
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        word.push(chars[i]);
                        i += 1;
                    }
                    if i == chars.len() {
                        return Err(s("unterminated single quote"));
                    }
                    i += 1;
                }
                '"' => {
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(s("unterminated double quote")),
                            Some('"') => break,
                            Some('\\')
                                if chars
                                    .get(i + 1)
                                    .is_some_and(|c| matches!(c, '"' | '$' | '\\' | '`')) =>
                            {
                                word.push(chars[i + 1]);
                                i += 2;
                            }
                            Some('$' | '`') => {
                                return Err(format!(
                                    "expansion inside double quotes at {:?}",
                                    tail(&chars, i)
                                ))
                            }
                            Some(c) => {
                                word.push(*c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
                '\\' => {
                    let c = *chars.get(i + 1).ok_or("trailing backslash")?;
                    word.push(c);
                    i += 2;
                }
                ';' | '&' | '|' | '<' | '>' | '(' | ')' | '$' | '`' => {
                    return Err(format!(
                        "unquoted shell operator or expansion at {:?}",
                        tail(&chars, i)
                    ))
                }
                c => {
                    if matches!(c, '*' | '?' | '[' | '{' | '~') {
                        globbed = true;
                    }
                    word.push(c);
                    i += 1;
                }
            }
        }
        if globbed && word != "/var/lib/apt/lists/*" {
            return Err(format!("unquoted glob or brace in word {word:?}"));
        }
        words.push(word);
    }
    Ok(words)
}

fn tail(chars: &[char], i: usize) -> String {
    chars[i..].iter().take(30).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks one parsed instruction against its expectation.
fn check_ins(got: &Value, want: &Ins, heredoc_mode: bool) -> Result<(), String> {
    let cmd = got["cmd"].as_str().unwrap_or_default();
    let json = got["json"].as_bool().unwrap_or(false);
    let value = strs(&got["value"]);
    let flags = strs(&got["flags"]);
    let heredocs = got["heredocs"].as_array().cloned().unwrap_or_default();
    let want_cmd = match want {
        Ins::From(_) => "FROM",
        Ins::Shell => "SHELL",
        Ins::Env(..) => "ENV",
        Ins::User(_) => "USER",
        Ins::Words(_) | Ins::Cmd(_) => "RUN",
    };
    if cmd != want_cmd {
        return Err(format!("{cmd} where {want_cmd} was expected ({want:?})"));
    }
    if !flags.is_empty() {
        return Err(format!("{cmd} carries flags {flags:?}"));
    }
    if !matches!(want, Ins::Cmd(_)) && !heredocs.is_empty() {
        return Err(format!("{cmd} has heredocs {heredocs:?}"));
    }
    match want {
        Ins::From(image) => {
            if value != [image.clone()] {
                return Err(format!("FROM value {value:?}, want [{image:?}]"));
            }
        }
        Ins::Shell => {
            let want = ["/bin/bash", "-o", "pipefail", "-c"];
            if !json || value != want {
                return Err(format!("SHELL json={json} {value:?}, want {want:?}"));
            }
        }
        Ins::User(u) => {
            if value != [u.clone()] {
                return Err(format!("USER {value:?}, want {u:?}"));
            }
        }
        Ins::Env(name, semantic) => {
            if value.len() != 2 || &value[0] != name {
                return Err(format!(
                    "ENV value {value:?}, want name {name:?} and one word"
                ));
            }
            let meant = env_word(&value[1])?;
            if &meant != semantic {
                return Err(format!(
                    "ENV {name} means {meant:?}, want {semantic:?} (raw {:?})",
                    value[1]
                ));
            }
        }
        Ins::Words(words) => {
            if json || value.len() != 1 {
                return Err(format!("RUN json={json} {value:?}, want shell form"));
            }
            let got = shell_words(&value[0]).map_err(|e| format!("RUN {:?}: {e}", value[0]))?;
            if &got != words {
                return Err(format!("RUN words {got:?}, want {words:?}"));
            }
        }
        Ins::Cmd(c) => {
            let exec: Vec<String> = BASH_C
                .iter()
                .map(|x| s(x))
                .chain(std::iter::once(c.clone()))
                .collect();
            let multi = c.contains('\n');
            if multi && heredoc_mode {
                let [h] = heredocs.as_slice() else {
                    return Err(format!("RUN has {} heredocs, want 1", heredocs.len()));
                };
                let name = h["name"].as_str().unwrap_or_default();
                let content = h["content"].as_str().unwrap_or_default();
                // The exec form's `-e -o pipefail`, then the command (issue 6).
                let want_content = if c.ends_with('\n') {
                    format!("set -e -o pipefail\n{c}")
                } else {
                    format!("set -e -o pipefail\n{c}\n")
                };
                if content != want_content {
                    return Err(format!(
                        "heredoc content {content:?}, want {want_content:?}"
                    ));
                }
                if c.lines().any(|l| l == name) {
                    return Err(format!("heredoc delimiter {name:?} is a line of the body"));
                }
                // Nothing but the heredoc, so BuildKit passes the script to the SHELL as an
                // argument rather than on a shell's stdin (issue 6).
                let quoted = format!("<<'{name}'");
                if json || value != [quoted.clone()] {
                    return Err(format!(
                        "heredoc RUN {value:?}, want `RUN {quoted}` (quoted delimiter)"
                    ));
                }
            } else if !heredocs.is_empty() {
                return Err(format!("RUN has unexpected heredocs {heredocs:?}"));
            } else if multi {
                if !json || value != exec {
                    return Err(format!(
                        "RUN json={json} {value:?}, want exec form {exec:?}"
                    ));
                }
            } else if !((json && value == exec) || (!json && value == [c.clone()])) {
                return Err(format!(
                    "RUN json={json} {value:?}, want shell form [{c:?}] or exec form {exec:?}"
                ));
            }
        }
    }
    Ok(())
}

fn check_parsed(file: &Value, want: &[Ins], heredoc_mode: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if let Some(e) = file["parse_error"].as_str() {
        errs.push(format!("BuildKit parse error: {e}"));
        return errs;
    }
    let got = file["instructions"].as_array().cloned().unwrap_or_default();
    let got_cmds: Vec<&str> = got
        .iter()
        .map(|i| i["cmd"].as_str().unwrap_or_default())
        .collect();
    if got.len() != want.len() {
        errs.push(format!(
            "{} instructions {got_cmds:?}, want {} ({want:?})",
            got.len(),
            want.len()
        ));
    }
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        if let Err(e) = check_ins(g, w, heredoc_mode) {
            errs.push(format!("instruction {}: {e}", n + 1));
        }
    }
    for f in file["hadolint"].as_array().into_iter().flatten() {
        if f["code"] == "DL1000" {
            errs.push(format!("hadolint cannot parse the file: {}", f["message"]));
        }
    }
    errs
}

#[test]
fn adversarial_corpus() {
    let dir = std::env::temp_dir().join(format!("envc-adversarial-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create temp dir");

    let cases = cases();
    let mut fails: Vec<Vec<String>> = vec![Vec::new(); cases.len()];
    let mut rendered = Vec::new();
    for (idx, c) in cases.iter().enumerate() {
        run_case(idx, c, &dir, &mut fails[idx], &mut rendered);
    }

    // One checker run for every rendered Dockerfile.
    let paths: Vec<&str> = rendered
        .iter()
        .map(|r| r.path.to_str().expect("utf-8 temp path"))
        .collect();
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dfcheck.py");
    let mut skipped = None;
    if !paths.is_empty() {
        match Command::new("python3").arg(&checker).args(&paths).output() {
            Err(e) => skipped = Some(format!("python3 could not run: {e}")),
            Ok(out) if out.status.code() == Some(2) => {
                skipped = Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
            }
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "dfcheck.py failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let doc: Value = serde_json::from_slice(&out.stdout).expect("dfcheck JSON");
                let files = doc["files"].as_array().expect("files array");
                assert_eq!(files.len(), rendered.len(), "one result per file");
                for (r, file) in rendered.iter().zip(files) {
                    let want = match &cases[r.case].expect {
                        Expect::Render(i) | Expect::RejectOr(_, i) => i,
                        Expect::Reject(_) => unreachable!("rejected cases render nothing"),
                    };
                    let mode = if r.heredoc { "--heredoc" } else { "exec" };
                    for e in check_parsed(file, want, r.heredoc) {
                        fails[r.case].push(format!("{mode} Dockerfile: {e}"));
                    }
                }
            }
        }
    }
    if let Some(reason) = &skipped {
        eprintln!("skipping BuildKit/hadolint assertions: {reason}");
    }

    let failed: Vec<usize> = (0..cases.len()).filter(|&i| !fails[i].is_empty()).collect();
    eprintln!(
        "adversarial corpus: {} cases, {} passed, {} failed",
        cases.len(),
        cases.len() - failed.len(),
        failed.len()
    );
    let mut report = String::new();
    for &i in &failed {
        let _ = writeln!(report, "case `{}`:", cases[i].name);
        for f in &fails[i] {
            let _ = writeln!(report, "    {f}");
        }
    }
    if failed.is_empty() {
        let _ = fs::remove_dir_all(&dir);
    }
    assert!(
        failed.is_empty(),
        "{} of {} adversarial cases failed (inputs kept in {}):\n{report}",
        failed.len(),
        cases.len(),
        dir.display()
    );
}

/// A body holding the first 1,000 delimiters envc would try (`ENVC_EOF`, `ENVC_EOF_1` …
/// `ENVC_EOF_999`): the exec form renders it, and `--heredoc` still finds a free delimiter
/// (one of `lines + 1` candidates always is) and BuildKit reads exactly one RUN with the body.
#[test]
fn heredoc_delimiters_exhausted() {
    let dir = std::env::temp_dir().join(format!("envc-adversarial-e051-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create temp dir");
    let mut spec = format!("{HEAD}post_build_cmds:\n  - echo first\n  - |\n    echo start\n");
    spec.push_str("    ENVC_EOF\n");
    for i in 1..1000 {
        let _ = writeln!(spec, "    ENVC_EOF_{i}");
    }
    spec.push_str("    echo end\n");
    let path = dir.join("exhausted.yaml");
    fs::write(&path, spec).expect("write spec");
    let path_s = path.to_str().expect("utf-8 temp path");

    let mut fails = Vec::new();
    let exec_out = dir.join("exec.Dockerfile");
    let res = envc(&["dockerfile", path_s, "-o", exec_out.to_str().unwrap()]);
    if sane(&res, "dockerfile", &mut fails) != Some(0) || !exec_out.exists() {
        fails.push(format!(
            "dockerfile (exec form) did not render: {}",
            first_lines(&String::from_utf8_lossy(&res.stderr))
        ));
    }

    let heredoc_out = dir.join("heredoc.Dockerfile");
    let res = envc(&[
        "dockerfile",
        "--heredoc",
        path_s,
        "-o",
        heredoc_out.to_str().unwrap(),
    ]);
    if sane(&res, "dockerfile --heredoc", &mut fails) != Some(0) {
        fails.push(format!(
            "dockerfile --heredoc did not render: {}",
            first_lines(&String::from_utf8_lossy(&res.stderr))
        ));
    } else {
        let text = fs::read_to_string(&heredoc_out).unwrap_or_default();
        if !text.contains("<<'ENVC_EOF_1000'\n") {
            fails.push(s(
                "dockerfile --heredoc: expected the delimiter ENVC_EOF_1000",
            ));
        }
        let checked = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dfcheck.py"))
            .arg(&heredoc_out)
            .output();
        match checked {
            Ok(o) if o.status.success() => {
                let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
                let ins = &doc["files"][0]["instructions"];
                let runs: Vec<&serde_json::Value> = ins
                    .as_array()
                    .map(|a| a.iter().filter(|i| i["cmd"] == "RUN").collect())
                    .unwrap_or_default();
                let body_ok = runs.get(1).is_some_and(|r| {
                    r["heredocs"][0]["content"].as_str().is_some_and(|c| {
                        c.contains("ENVC_EOF_999\n") && c.trim_end().ends_with("echo end")
                    })
                });
                if runs.len() != 2 || !body_ok {
                    fails.push(format!("dockerfile --heredoc: BuildKit read {ins}"));
                }
            }
            Ok(o) => eprintln!(
                "skipping the BuildKit check of the heredoc: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
            Err(e) => eprintln!("skipping the BuildKit check of the heredoc: {e}"),
        }
    }
    if fails.is_empty() {
        let _ = fs::remove_dir_all(&dir);
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}
