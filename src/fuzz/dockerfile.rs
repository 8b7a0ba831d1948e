//! A Dockerfile split into instructions by BuildKit's rules (the default `\` escape): what
//! the spec target compares with the plan. Lines that are blank or start with `#` are
//! dropped, also inside a continuation; a line ending in `\` continues on the next; a `RUN`,
//! `COPY` or `ADD` with `<<WORD` (or `<<-WORD`, `<<'WORD'`, `<<"WORD"`) reads the lines after
//! it up to a line that is exactly `WORD` as its heredoc. Only envc's own output is split
//! here, whose BuildKit reading `tests/golden.rs` checks with BuildKit's parser itself.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// Upper-cased, as BuildKit matches it.
    pub keyword: String,
    /// The rest of the logical line, continuations joined, without the line breaks.
    pub args: String,
    /// The heredoc's lines joined with `\n`, when the instruction has one.
    pub heredoc: Option<String>,
}

pub fn instructions(text: &str) -> Result<Vec<Instruction>, String> {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut out = Vec::new();
    while let Some(first) = lines.next() {
        if is_blank_or_comment(first) {
            continue;
        }
        let mut logical = String::new();
        let mut line = first;
        loop {
            match line.trim_end().strip_suffix('\\') {
                Some(head) => {
                    logical.push_str(head);
                    line = loop {
                        match lines.next() {
                            None => return Err(format!("a continuation at the end: {logical}")),
                            Some(l) if is_blank_or_comment(l) => continue,
                            Some(l) => break l,
                        }
                    };
                }
                None => {
                    logical.push_str(line);
                    break;
                }
            }
        }
        let logical = logical.trim_start();
        let (keyword, args) = logical.split_once([' ', '\t']).unwrap_or((logical, ""));
        let args = args.trim().to_string();
        // BuildKit reads heredocs in RUN, COPY and ADD only (an `ENV` value may hold `<<`).
        let keyword = keyword.to_ascii_uppercase();
        let takes_heredoc = matches!(keyword.as_str(), "RUN" | "COPY" | "ADD");
        let heredoc = match heredoc_word(&args).filter(|_| takes_heredoc) {
            None => None,
            Some((word, strip_tabs)) => {
                let mut body = Vec::new();
                loop {
                    let Some(l) = lines.next() else {
                        return Err(format!("heredoc `{word}` is not closed"));
                    };
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == word {
                        break;
                    }
                    body.push(l);
                }
                Some(body.join("\n"))
            }
        };
        out.push(Instruction {
            keyword,
            args,
            heredoc,
        });
    }
    Ok(out)
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// The delimiter of the first `<<` outside a JSON array, and whether it is `<<-`.
fn heredoc_word(args: &str) -> Option<(String, bool)> {
    if args.starts_with('[') {
        return None;
    }
    let at = args.find("<<")?;
    let rest = &args[at + 2..];
    let (rest, strip_tabs) = match rest.strip_prefix('-') {
        Some(r) => (r, true),
        None => (rest, false),
    };
    let word: String = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => rest[1..].split(q).next().unwrap_or_default().to_string(),
        _ => rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect(),
    };
    (!word.is_empty()).then_some((word, strip_tabs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_heredocs() {
        let text = "# c\nFROM x\nRUN a \\\n# inside\n  b\n\nRUN <<'EOF'\nset -e\n echo\nEOF\nENV A=\"1\"\n";
        let got = instructions(text).unwrap();
        let kw: Vec<_> = got.iter().map(|i| i.keyword.as_str()).collect();
        assert_eq!(kw, ["FROM", "RUN", "RUN", "ENV"]);
        assert_eq!(got[1].args, "a   b");
        assert_eq!(got[2].heredoc.as_deref(), Some("set -e\n echo"));
        assert_eq!(got[3].args, "A=\"1\"");
    }

    #[test]
    fn an_exec_form_has_no_heredoc_and_an_open_one_is_an_error() {
        let got = instructions("RUN [\"bash\", \"-c\", \"cat <<X\"]\nENV A=\"<<Y\"\n").unwrap();
        assert_eq!(got[0].heredoc, None);
        assert_eq!(
            (got[1].keyword.as_str(), got[1].heredoc.as_ref()),
            ("ENV", None)
        );
        assert!(instructions("RUN <<X\nno end\n").is_err());
        assert!(instructions("RUN a \\\n").is_err());
    }
}
