//! Specs: parse, validate, lower and render, for both builders.

use super::dockerfile::{instructions, Instruction};
use crate::config::Config;
use crate::diag::{codes, Diagnostic};
use crate::emit::dockerfile::{render, Options};
use crate::emit::Target;
use crate::plan::{Plan, Step};
use crate::{compile, CompileOptions, TemplateInputs};

/// A spec (a Jinja template of one when it has `{{` or `{%`): a refused one has diagnostics
/// that point into the text; an accepted one compiles to the same digest again, its plan's
/// JSON reads back to the same plan, and every rendering is deterministic and has exactly the
/// plan's steps as instructions, each carrying its step's text unchanged.
pub fn spec(data: &[u8]) {
    let template = data.windows(2).any(|w| w == b"{{" || w == b"{%");
    for target in [Target::Docker, Target::Anyscale] {
        let options = CompileOptions {
            template: template.then(TemplateInputs::default),
            target,
        };
        let compiled = match compile("fuzz.yaml", data, &Config::default(), &options) {
            Ok(c) => c,
            Err(diags) => {
                check_diagnostics(data, &diags, template);
                continue;
            }
        };
        let again = compile("fuzz.yaml", data, &Config::default(), &options)
            .expect("an accepted spec is accepted again");
        assert_eq!(
            compiled.digest, again.digest,
            "the spec digest is deterministic"
        );
        let json = compiled.plan.canonical_json();
        let back = Plan::from_json(json.as_bytes()).expect("a plan's JSON reads back");
        assert_eq!(back, compiled.plan, "the plan round-trips through its JSON");
        assert_eq!(back.canonical_json(), json, "canonical JSON is stable");
        for options in renderings(target) {
            let text = render(&compiled.plan, &options).expect("an accepted spec renders");
            let twice = render(&compiled.plan, &options).expect("and renders again");
            assert_eq!(text, twice, "rendering is deterministic");
            check_rendering(&compiled.plan, &text);
        }
    }
}

fn renderings(target: Target) -> Vec<Options> {
    let base = Options {
        heredoc: false,
        cache_mounts: false,
        mirror: None,
        template: None,
        target,
    };
    if target == Target::Anyscale {
        return vec![base];
    }
    vec![
        Options {
            heredoc: true,
            cache_mounts: true,
            mirror: Some("mirror.example.com".into()),
            ..base.clone()
        },
        base,
    ]
}

/// Positions are in the text (a template's may be in its rendering, which can be longer).
fn check_diagnostics(data: &[u8], diags: &[Diagnostic], template: bool) {
    assert!(
        diags.iter().any(Diagnostic::is_error),
        "a refused spec has an error"
    );
    for d in diags {
        assert!(!d.message.is_empty(), "every diagnostic says what is wrong");
        if let Some(span) = d.span {
            if d.code == codes::ENCODING {
                // Not UTF-8: the span is the first invalid byte of the raw input.
                assert!(span.end <= data.len());
                continue;
            }
            let text = &d.file.text;
            assert!(span.start <= span.end && span.end <= text.len(), "{d:?}");
            assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            if !template {
                assert!(span.end <= data.len());
            }
        }
    }
}

/// One `FROM`, first; then only `SHELL`, `USER`, `ENV` and `RUN`; the `ENV`s and `RUN`s are
/// the plan's steps in order (one `ENV` per variable), and a post-build command is its
/// instruction's text exactly: nothing a spec holds can add, drop or split an instruction.
fn check_rendering(plan: &Plan, text: &str) {
    let all = instructions(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        all.first().map(|i| i.keyword.as_str()),
        Some("FROM"),
        "{text}"
    );
    assert_eq!(all.iter().filter(|i| i.keyword == "FROM").count(), 1);
    for i in &all {
        assert!(
            ["FROM", "SHELL", "USER", "ENV", "RUN"].contains(&i.keyword.as_str()),
            "unexpected {} in\n{text}",
            i.keyword
        );
    }
    let mut got = all
        .iter()
        .filter(|i| i.keyword == "ENV" || i.keyword == "RUN");
    for step in &plan.steps {
        match step {
            Step::Env { vars } => {
                for var in vars {
                    let i = got.next().expect("an ENV per variable");
                    assert_eq!(i.keyword, "ENV", "{text}");
                    let name = i.args.split('=').next().unwrap_or_default();
                    assert_eq!(name, var.name.as_str(), "{text}");
                }
            }
            Step::Debian { .. } => expect_run(got.next(), ["apt-get", " install "], text),
            Step::Conda { .. } => expect_run(got.next(), ["conda install", " -- "], text),
            Step::Pip { .. } => expect_run(got.next(), ["pip install", " -- "], text),
            Step::Run { command, .. } => {
                let i = got.next().expect("a RUN per post-build command");
                assert_eq!(i.keyword, "RUN", "{text}");
                let ran = run_command(i);
                assert_eq!(
                    ran.trim_end_matches('\n'),
                    command.trim_end_matches('\n'),
                    "{text}"
                );
            }
        }
    }
    assert!(
        got.next().is_none(),
        "no instruction beyond the plan's:\n{text}"
    );
}

fn expect_run(i: Option<&Instruction>, words: [&str; 2], text: &str) {
    let i = i.expect("a RUN per package step");
    assert_eq!(i.keyword, "RUN", "{text}");
    for w in words {
        assert!(i.args.contains(w), "{w:?} in\n{text}");
    }
}

/// The command a post-build `RUN` runs: the last word of its exec form, its heredoc script
/// after the prelude, or its shell form.
fn run_command(i: &Instruction) -> String {
    if let Some(body) = &i.heredoc {
        let (prelude, script) = body.split_once('\n').unwrap_or((body, ""));
        assert_eq!(prelude, "set -e -o pipefail");
        return script.to_string();
    }
    if i.args.starts_with('[') {
        let argv: Vec<String> = serde_json::from_str(&i.args).expect("an exec form is JSON");
        return argv.last().cloned().unwrap_or_default();
    }
    i.args.clone()
}
