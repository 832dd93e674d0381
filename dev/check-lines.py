#!/usr/bin/env python3
"""Files one reader can hold: no Rust file under shared/src, functions/*/src, dev/*/src, nor
a script of the console's page (dev/console/static/*.js), may have more than 500 lines of code
outside #[cfg(test)] items.

Lines of code: non-blank lines that are not only a `//` comment (doc comments included in
that: `///` and `//!` lines do not count either). A `#[cfg(test)]` item (a `mod tests { … }`
or a single function) is skipped with its attributes, by brace depth.

    ./dev/check-lines.py            # fails listing the files over the limit
    ./dev/check-lines.py --all      # prints every file's count, largest first
"""
import glob
import os
import sys

LIMIT = 500
ROOTS = ["shared/src", "functions/*/src", "dev/*/src"]
SCRIPTS = ["dev/console/static/*.js"]


def lines_of_code(text):
    count = 0
    skipping = False  # inside a #[cfg(test)] item
    pending = False  # saw #[cfg(test)], waiting for its item
    depth = 0
    for raw in text.split("\n"):
        line = raw.strip()
        if skipping:
            depth += raw.count("{") - raw.count("}")
            if depth <= 0:
                skipping = False
            continue
        if line.startswith("#[cfg(test)]"):
            pending = True
            continue
        if pending:
            if not line or line.startswith("#[") or line.startswith("//"):
                continue
            pending = False
            depth = raw.count("{") - raw.count("}")
            if line.endswith(";"):
                continue  # `mod tests;`: the file itself is counted on its own
            if depth > 0:
                skipping = True
            continue
        if not line or line.startswith("//"):
            continue
        count += 1
    return count


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    os.chdir(root)
    files = sorted(
        {p for r in ROOTS for p in glob.glob(os.path.join(r, "**", "*.rs"), recursive=True)}
        | {p for pattern in SCRIPTS for p in glob.glob(pattern)}
    )
    counts = sorted(((lines_of_code(open(p, encoding="utf-8").read()), p) for p in files), reverse=True)
    if "--all" in sys.argv:
        for n, p in counts:
            print(f"{n:5d} {p}")
    over = [(n, p) for n, p in counts if n > LIMIT]
    for n, p in over:
        print(f"check-lines: {p} has {n} lines of code outside tests (limit {LIMIT})", file=sys.stderr)
    if over:
        return 1
    print(f"check-lines: {len(files)} files, none over {LIMIT} lines of code outside tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
