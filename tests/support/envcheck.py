#!/usr/bin/env python3
"""Reads every `ENV` of a Dockerfile the way BuildKit does.

The instructions come from BuildKit's own parser (PyPI `dockerfile`, which wraps moby/buildkit's
Go parser). That parser keeps each ENV value as the raw word (quotes and escapes still in it);
BuildKit then evaluates the word with its shell lexer, which the package does not expose, so
`word_value` below is a port of that lexer (frontend/dockerfile/shell/lex.go: processStopOn,
processDoubleQuote, processSingleQuote, processDollar) for the forms an ENV word can hold:
escapes, quotes, `$NAME` and `${NAME}`. Every other `${…}` form is reported as unsupported, never
guessed. buildah, which runs the same lexer for real, cross-checks the port in
tests/env_quoting.rs.

Usage: envcheck.py FILE -> one JSON document on stdout:
  {"parse_error": null | "...", "env": [{"args": [...], "value": "..." | null,
                                          "error": null | "..."}]}
`args` is the parsed instruction's value list (for one `K=V` pair: [K, raw word]).
Exit 2 (with a message on stderr) when the parser package is missing, so callers can skip.
"""
import json
import sys


class LexError(Exception):
    pass


def is_name_char(c, first):
    # Go's unicode.IsLetter / IsDigit, as processName uses them.
    return c == "_" or c.isalpha() or (c.isdigit() and not first)


def word_value(word, env):
    """The string BuildKit's lexer makes of one ENV word (escape token `\\`)."""
    out = []
    i = 0
    n = len(word)

    def dollar(i):
        # word[i] == '$'
        i += 1
        if i < n and word[i] == "{":
            i += 1
            j = i
            while j < n and is_name_char(word[j], j == i):
                j += 1
            if j == i or j >= n or word[j] != "}":
                raise LexError(f"unsupported ${{…}} form at {i - 2}")
            return env.get(word[i:j], ""), j + 1
        j = i
        if i < n and word[i].isdigit():
            raise LexError(f"positional parameter at {i - 1}")
        while j < n and is_name_char(word[j], j == i):
            j += 1
        if j == i:
            if i < n and word[i] in "@*#?-$!0":
                raise LexError(f"special parameter at {i - 1}")
            return "$", i
        return env.get(word[i:j], ""), j

    while i < n:
        c = word[i]
        if c == "$":
            v, i = dollar(i)
            out.append(v)
        elif c == "'":
            j = word.find("'", i + 1)
            if j < 0:
                raise LexError("unterminated single quote")
            out.append(word[i + 1:j])
            i = j + 1
        elif c == '"':
            i += 1
            while True:
                if i >= n:
                    raise LexError("unterminated double quote")
                c = word[i]
                if c == '"':
                    i += 1
                    break
                if c == "$":
                    v, i = dollar(i)
                    out.append(v)
                    continue
                i += 1
                if c == "\\":
                    if i >= n:
                        continue
                    if word[i] in '"$\\':
                        c = word[i]
                        i += 1
                out.append(c)
        elif c == "\\":
            # Outside quotes a backslash takes the next character literally; at the end it
            # is dropped.
            if i + 1 < n:
                out.append(word[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main(path):
    try:
        import dockerfile  # noqa: PLC0415
    except ImportError:
        print("python package `dockerfile` is not installed (pip install dockerfile)", file=sys.stderr)
        return 2
    doc = {"parse_error": None, "env": []}
    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        doc["parse_error"] = str(e)
        commands = []
    env = {}
    for c in commands:
        if c.cmd.upper() != "ENV":
            continue
        entry = {"args": list(c.value), "value": None, "error": None}
        if len(c.value) == 2:
            try:
                entry["value"] = word_value(c.value[1], env)
                env[c.value[0]] = entry["value"]
            except LexError as e:
                entry["error"] = str(e)
        doc["env"].append(entry)
    json.dump(doc, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
