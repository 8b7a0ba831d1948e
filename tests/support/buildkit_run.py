#!/usr/bin/env python3
"""What BuildKit would execute for each RUN of a Dockerfile.

The instructions come from BuildKit's own parser (PyPI `dockerfile`); the step from instruction
to process is dockerfile2llb's `dispatchRun` (moby/buildkit frontend/dockerfile/dockerfile2llb/
convert.go), restated here for Linux:
- a RUN whose whole command line is one heredoc (`<<EOF`, `<<-'EOF'`, …): if the body starts
  with `#!` it is written to a file (mode 0755) that is executed directly; otherwise the body is
  the last argument of the SHELL (`SHELL + [body]`);
- any other RUN with heredocs: the command line, a newline, then each heredoc's body and name,
  joined into one shell script, run as `SHELL + [script]`;
- an exec form runs its JSON array; a shell form runs `SHELL + [command line]`.
The SHELL is the last `SHELL` instruction's array, by default `["/bin/sh", "-c"]`.

Usage: buildkit_run.py FILE -> JSON on stdout: {"runs": [{"argv": [...] | "script": "#!…", "heredoc": bool}]}
Exit 2 (with a message on stderr) when the parser package is missing, so callers can skip.
"""
import json
import re
import sys

# parser.go's reHeredoc: a command line that is exactly one heredoc.
RE_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$")


def chomp(body):
    # parser.ChompHeredocContent: strip leading tabs from every line.
    return "".join(line.lstrip("\t") for line in body.splitlines(keepends=True))


def main(path):
    try:
        import dockerfile  # noqa: PLC0415
    except ImportError:
        print("python package `dockerfile` is not installed (pip install dockerfile)", file=sys.stderr)
        return 2
    shell = ["/bin/sh", "-c"]
    runs = []
    for c in dockerfile.parse_file(path):
        cmd = c.cmd.upper()
        if cmd == "SHELL":
            shell = list(c.value)
        if cmd != "RUN":
            continue
        args = list(c.value)
        if c.json:
            runs.append({"argv": args, "heredoc": False})
            continue
        if c.heredocs:
            m = RE_HEREDOC.match(args[0]) if len(args) == 1 else None
            if m is not None and len(c.heredocs) == 1:
                data = c.heredocs[0].content
                if m.group(2) == "-":
                    data = chomp(data)
                if data.startswith("#!"):
                    runs.append({"script": data, "heredoc": True})
                else:
                    runs.append({"argv": shell + [data], "heredoc": True})
            else:
                script = args[0] + "".join("\n" + h.content + h.name for h in c.heredocs)
                runs.append({"argv": shell + [script], "heredoc": True})
            continue
        runs.append({"argv": shell + [" ".join(args)], "heredoc": False})
    json.dump({"runs": runs}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
