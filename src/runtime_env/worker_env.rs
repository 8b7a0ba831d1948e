//! The environment a Ray worker process runs with, given the node's environment and a runtime
//! env: what `envc bake` writes into an image's `Env`, so that a baked image starts its
//! processes with what a worker of that runtime env would have.
//!
//! Ray builds it in two steps, read in each release's source:
//! 1. The runtime-env agent starts a `RuntimeEnvContext` from `env_vars` (in sorted key order:
//!    the runtime env reaches it through `RuntimeEnv.serialize`, `json.dumps(sort_keys=True)`).
//!    The working_dir plugin runs first, then py_modules, and each calls
//!    `set_pythonpath_in_context` (`_private/runtime_env/working_dir.py`): `PYTHONPATH` becomes
//!    its directories, then the context's `PYTHONPATH` if set, then the node's if set. So
//!    py_modules come first, and with both plugins the node's `PYTHONPATH` appears twice.
//!    Unchanged from Ray 1.13 to 2.60.
//! 2. The worker applies the context's variables in order, each to the live environment
//!    (`RuntimeEnvContext.exec_worker`, `_private/runtime_env/context.py`). How values are
//!    read depends on the release ([`Expansion`]).
//!
//! Ray's worker also gets variables of its own from the raylet (ports, job ids); those are not
//! the runtime env's and are not modelled.

/// How a Ray release reads the values of runtime-env `env_vars`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expansion {
    /// Ray 1.x to 2.4: `os.environ.update(env_vars)`, values taken literally.
    Literal,
    /// Ray 2.5 and 2.6 (`update_envs`, `_private/utils.py`): only in `PATH`,
    /// `LD_LIBRARY_PATH`, `DYLD_LIBRARY_PATH` and `LD_PRELOAD`, the variable's own `${NAME}` is
    /// replaced by its current value (empty when unset); everything else is literal.
    OwnPathVars,
    /// Ray 2.7 and later (2.40, 2.60; `update_envs`): `os.path.expandvars` (`$NAME` and
    /// `${NAME}`, `NAME` of ASCII letters, digits and `_` for the first form and anything but
    /// `}` for the second; unset names left as written), then every `${NAME}` still there with
    /// `NAME` of `A-Z0-9_` removed.
    ExpandVars,
}

impl Expansion {
    /// The rule of a Ray version as a plan records it (`2.9.0`, `2.5.0rc1`, `nightly`,
    /// `latest`). `None` when the version says nothing (missing or not a release): the caller
    /// takes [`Expansion::ExpandVars`], the rule of every release since 2.7, and says so.
    pub fn for_ray_version(version: &str) -> Option<Expansion> {
        if matches!(version, "nightly" | "pinned-nightly" | "latest") {
            return Some(Expansion::ExpandVars);
        }
        let mut parts = version.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts
            .next()?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()?;
        Some(match (major, minor) {
            (0 | 1, _) | (2, 0..=4) => Expansion::Literal,
            (2, 5 | 6) => Expansion::OwnPathVars,
            _ => Expansion::ExpandVars,
        })
    }
}

/// An ordered environment: names are unique, order is the order they were first set.
pub type Env = Vec<(String, String)>;

fn get<'e>(env: &'e Env, name: &str) -> Option<&'e str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn set(env: &mut Env, name: &str, value: String) {
    match env.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name.to_string(), value)),
    }
}

/// The variables the agent hands the worker, in Ray's order: `env_vars` sorted, `PYTHONPATH`
/// set by the working_dir plugin, then by py_modules (each prepends its directories).
pub fn context_vars(
    node: &Env,
    env_vars: &[(String, String)],
    working_dir: Option<&str>,
    py_modules: Option<&str>,
) -> Env {
    let mut ctx: Env = env_vars.to_vec();
    ctx.sort_by(|a, b| a.0.cmp(&b.0));
    for dirs in [working_dir, py_modules].into_iter().flatten() {
        let mut value = dirs.to_string();
        for prev in [get(&ctx, "PYTHONPATH"), get(node, "PYTHONPATH")]
            .into_iter()
            .flatten()
        {
            value.push(':');
            value.push_str(prev);
        }
        set(&mut ctx, "PYTHONPATH", value);
    }
    ctx
}

/// The worker's environment: `node` with the context's variables applied in order under
/// `rule`. Names keep their place in `node`; new ones follow in the order they are set.
pub fn apply(node: &Env, ctx: &Env, rule: Expansion) -> Env {
    let mut env = node.clone();
    for (name, value) in ctx {
        let value = match rule {
            Expansion::Literal => value.clone(),
            Expansion::OwnPathVars => {
                if matches!(
                    name.as_str(),
                    "PATH" | "LD_LIBRARY_PATH" | "DYLD_LIBRARY_PATH" | "LD_PRELOAD"
                ) {
                    value.replace(&format!("${{{name}}}"), get(&env, name).unwrap_or_default())
                } else {
                    value.clone()
                }
            }
            Expansion::ExpandVars => drop_unset_braced(&expandvars(value, &env)),
        };
        set(&mut env, name, value);
    }
    env
}

/// Python's `posixpath.expandvars` on a `str` (`\$(\w+|\{[^}]*\})`, ASCII `\w`): a name that
/// is not set is left as written; a substituted value is not scanned again.
pub fn expandvars(value: &str, env: &Env) -> String {
    if !value.contains('$') {
        return value.to_string();
    }
    let mut path = value.to_string();
    let mut i = 0;
    while let Some((start, end, name)) = next_var(&path, i) {
        match get(env, &name).filter(|_| !name.is_empty()) {
            None => i = end,
            Some(v) => {
                let tail = path[end..].to_string();
                path.truncate(start);
                path.push_str(v);
                i = path.len();
                path.push_str(&tail);
            }
        }
    }
    path
}

/// The next `$name` or `${name}` at or after byte `from`: its span and the name.
fn next_var(s: &str, from: usize) -> Option<(usize, usize, String)> {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut p = from;
    while p < b.len() {
        if b[p] == b'$' {
            let q = p + 1;
            let w = b[q..].iter().take_while(|&&c| word(c)).count();
            if w > 0 {
                return Some((p, q + w, s[q..q + w].to_string()));
            }
            if b.get(q) == Some(&b'{') {
                if let Some(close) = s[q + 1..].find('}') {
                    let end = q + 1 + close + 1;
                    return Some((p, end, s[q + 1..end - 1].to_string()));
                }
            }
        }
        p += 1;
    }
    None
}

/// `re.sub(r"\$\{[A-Z0-9_]+\}", "", s)`: Ray's removal of unset `${NAME}`s.
fn drop_unset_braced(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    let mut p = 0;
    while p + 1 < b.len() {
        if b[p] == b'$' && b[p + 1] == b'{' {
            let n = b[p + 2..]
                .iter()
                .take_while(|&&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
                .count();
            if n > 0 && b.get(p + 2 + n) == Some(&b'}') {
                out.push_str(&s[last..p]);
                p += n + 3;
                last = p;
                continue;
            }
        }
        p += 1;
    }
    out.push_str(&s[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn versions_choose_the_rule_of_their_release() {
        use Expansion::*;
        for (v, rule) in [
            ("1.13.0", Some(Literal)),
            ("2.0.0", Some(Literal)),
            ("2.4.0", Some(Literal)),
            ("2.5.0rc1", Some(OwnPathVars)),
            ("2.6.3", Some(OwnPathVars)),
            ("2.7.0", Some(ExpandVars)),
            ("2.9.0", Some(ExpandVars)),
            ("2.40.0", Some(ExpandVars)),
            ("nightly", Some(ExpandVars)),
            ("latest", Some(ExpandVars)),
            ("", None),
            ("two", None),
        ] {
            assert_eq!(Expansion::for_ray_version(v), rule, "{v}");
        }
    }

    /// Expected values are Python 3.11's `os.path.expandvars` and Ray 2.40's `update_envs`.
    #[test]
    fn expansion_is_pythons_then_rays() {
        let node = env(&[("PATH", "/usr/bin:/bin"), ("HOME", "/home/ray"), ("E", "")]);
        let one = |v: &str| {
            let ctx = env(&[("X", v)]);
            let out = apply(&node, &ctx, Expansion::ExpandVars);
            get(&out, "X").unwrap().to_string()
        };
        assert_eq!(
            one("${PATH}:/opt/extra/bin"),
            "/usr/bin:/bin:/opt/extra/bin"
        );
        assert_eq!(one("$HOME/x"), "/home/ray/x");
        assert_eq!(one("$HOME_X"), "$HOME_X");
        assert_eq!(one("${UNSET}:a"), ":a");
        assert_eq!(one("${unset}:$UNSET"), "${unset}:$UNSET");
        assert_eq!(one("${E}|$E|"), "||");
        assert_eq!(one("$$HOME $ ${} ${HOME"), "$/home/ray $ ${} ${HOME");
        assert_eq!(one("${HO ME}"), "${HO ME}");
        assert_eq!(one("${A1_}${b}"), "${b}");
        assert_eq!(one("$1x"), "$1x");
        assert_eq!(one("é$HOME"), "é/home/ray");
        // Later variables see earlier ones, in sorted order.
        let ctx = context_vars(
            &node,
            &env(&[("B", "$A-b"), ("A", "a"), ("C", "${D}")]),
            None,
            None,
        );
        let out = apply(&node, &ctx, Expansion::ExpandVars);
        assert_eq!(get(&out, "B"), Some("a-b"));
        assert_eq!(get(&out, "C"), Some(""));
        // Older releases.
        let ctx = env(&[
            ("PATH", "${PATH}:/x"),
            ("Y", "${PATH}"),
            ("LD_PRELOAD", "${LD_PRELOAD}"),
        ]);
        let out = apply(&node, &ctx, Expansion::OwnPathVars);
        assert_eq!(get(&out, "PATH"), Some("/usr/bin:/bin:/x"));
        assert_eq!(get(&out, "Y"), Some("${PATH}"));
        assert_eq!(get(&out, "LD_PRELOAD"), Some(""));
        let out = apply(&node, &ctx, Expansion::Literal);
        assert_eq!(get(&out, "PATH"), Some("${PATH}:/x"));
    }

    #[test]
    fn pythonpath_is_built_as_the_plugins_build_it() {
        let node = env(&[("PYTHONPATH", "/base")]);
        let ctx = context_vars(
            &node,
            &env(&[("PYTHONPATH", "/user")]),
            Some("/wd"),
            Some("/pm"),
        );
        assert_eq!(get(&ctx, "PYTHONPATH"), Some("/pm:/wd:/user:/base:/base"));
        let ctx = context_vars(&env(&[]), &[], Some("/wd"), None);
        assert_eq!(ctx, env(&[("PYTHONPATH", "/wd")]));
        let ctx = context_vars(&node, &env(&[("Z", "1")]), None, Some("/pm"));
        assert_eq!(ctx, env(&[("Z", "1"), ("PYTHONPATH", "/pm:/base")]));
        // The value itself is expanded like any other.
        let ctx = context_vars(
            &node,
            &env(&[("PYTHONPATH", "${PYTHONPATH}:/u")]),
            Some("/wd"),
            None,
        );
        let out = apply(&node, &ctx, Expansion::ExpandVars);
        assert_eq!(out, env(&[("PYTHONPATH", "/wd:/base:/u:/base")]));
    }
}
