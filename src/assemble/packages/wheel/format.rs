//! The text formats inside a wheel: `RECORD` (CSV rows `path,algo=urlsafe-b64-nopad,size`),
//! `WHEEL` (RFC 822 headers), `entry_points.txt` (INI), and the launcher scripts an installer
//! writes for console and GUI entry points (pip's distlib template, uv's shebang rule).

use base64::Engine as _;

/// One RECORD row, fields as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub path: String,
    pub hash: String,
    pub size: String,
}

/// Parses RECORD's CSV (Python's `csv` dialect: `"` quotes, `""` escapes a quote).
pub fn parse_record(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut field = String::new();
    let mut fields: Vec<String> = Vec::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut end_row = |fields: &mut Vec<String>, field: &mut String| {
        fields.push(std::mem::take(field));
        let f = std::mem::take(fields);
        if !(f.len() == 1 && f[0].is_empty()) {
            let mut it = f.into_iter();
            rows.push(Row {
                path: it.next().unwrap_or_default(),
                hash: it.next().unwrap_or_default(),
                size: it.next().unwrap_or_default(),
            });
        }
    };
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                line += 1;
                end_row(&mut fields, &mut field);
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err(format!("an unterminated quote (line {line})"));
    }
    if !field.is_empty() || !fields.is_empty() {
        end_row(&mut fields, &mut field);
    }
    Ok(rows)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// RECORD text for rows (already sorted by the caller), `\n` line ends as pip writes them.
pub fn write_record(rows: &[Row]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{},{},{}\n",
                csv_field(&r.path),
                csv_field(&r.hash),
                csv_field(&r.size)
            )
        })
        .collect()
}

/// `sha256=<urlsafe base64, no padding>` of a digest.
pub fn record_hash(algo: &str, digest: &[u8]) -> String {
    format!(
        "{algo}={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// `WHEEL`'s `Key: value` headers (first occurrence wins; continuation lines are not used).
pub fn header<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// A console or GUI entry point: `name = module:attr.path [extras]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryPoint {
    pub name: String,
    pub module: String,
    pub function: String,
}

/// The `[console_scripts]` and `[gui_scripts]` entries of `entry_points.txt`, sorted by name.
pub fn entry_points(text: &str) -> Result<Vec<EntryPoint>, String> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s.trim().to_string();
            continue;
        }
        if section != "console_scripts" && section != "gui_scripts" {
            continue;
        }
        let bad = || {
            format!(
                "entry_points.txt line {}: `{line}` is not `name = module:function`",
                i + 1
            )
        };
        let (name, value) = line.split_once('=').ok_or_else(bad)?;
        let value = value.split('[').next().unwrap_or(value);
        let (module, function) = value.split_once(':').ok_or_else(bad)?;
        let (name, module, function) = (name.trim(), module.trim(), function.trim());
        let ident = |s: &str| {
            !s.is_empty()
                && s.split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
        };
        if name.is_empty() || !ident(module) || !ident(function) {
            return Err(bad());
        }
        out.push(EntryPoint {
            name: name.to_string(),
            module: module.to_string(),
            function: function.to_string(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The first line of a script for `executable`: `#!<executable>` when it is at most 127 bytes
/// with no spaces (the kernel's limit), else the `/bin/sh` trampoline uv and pip write.
pub fn shebang(executable: &str) -> String {
    if 2 + executable.len() + 1 > 127 || executable.contains(' ') {
        let quoted = executable.replace('\'', "'\\''");
        return format!("#!/bin/sh\n'''exec' '{quoted}' \"$0\" \"$@\"\n' '''");
    }
    format!("#!{executable}")
}

/// pip's launcher (distlib's `SCRIPT_TEMPLATE`) for an entry point.
pub fn launcher(ep: &EntryPoint, executable: &str) -> String {
    let import_name = ep.function.split('.').next().unwrap_or(&ep.function);
    format!(
        "{shebang}\n# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {import_name}\nif __name__ == '__main__':\n    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n    sys.exit({function}())\n",
        shebang = shebang(executable),
        module = ep.module,
        function = ep.function,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let text = "a/b.py,sha256=x,3\r\n\"we,ird\"\"q.py\",sha256=y,4\nd-1.dist-info/RECORD,,\n\n";
        let rows = parse_record(text).expect("parses");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].path, "we,ird\"q.py");
        assert_eq!(rows[2].hash, "");
        let again = parse_record(&write_record(&rows)).expect("parses");
        assert_eq!(rows, again);
        assert!(parse_record("\"open,x,1\n").is_err());
        assert_eq!(record_hash("sha256", &[0xfb, 0xff]), "sha256=-_8");
    }

    #[test]
    fn entry_points_and_launchers() {
        let eps = entry_points(
            "[console_scripts]\nzz = pkg.cli:main.run [extra]\naa=pkg:go\n\n[other]\nx = y:z\n[gui_scripts]\ng = pkg.gui:start\n",
        )
        .expect("parses");
        let names: Vec<&str> = eps.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["aa", "g", "zz"]);
        assert_eq!(eps[2].function, "main.run");
        assert!(entry_points("[console_scripts]\nbad = nocolon\n").is_err());
        let text = launcher(&eps[2], "/home/ray/anaconda3/bin/python");
        assert!(text.starts_with("#!/home/ray/anaconda3/bin/python\n# -*- coding: utf-8 -*-\n"));
        assert!(text.contains("from pkg.cli import main\n"));
        assert!(text.ends_with("    sys.exit(main.run())\n"));
        let long = format!("/{}/python", "d".repeat(130));
        assert!(shebang(&long).starts_with("#!/bin/sh\n'''exec' '/ddd"));
        assert_eq!(
            shebang("/o p/it's"),
            "#!/bin/sh\n'''exec' '/o p/it'\\''s' \"$0\" \"$@\"\n' '''"
        );
        assert_eq!(
            header(
                "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
                "root-is-purelib"
            ),
            Some("true")
        );
    }
}
