#!/usr/bin/env python3
"""Checks the docs against the repository (stdlib only; run from anywhere).

Fails, naming each problem, when:
  - README.md has more than 200 lines;
  - README.md's first fenced code block is not the two commands: a line starting
    `./dev/run.sh`, then a line starting `./dev/test.sh`;
  - a Parameter, an Output or a resource of `Type: AWS::Serverless::Function` in template.yaml
    is not named in docs/deploy.md;
  - an `AWS::CloudWatch::Alarm` resource in template.yaml is not named in docs/operations.md;
  - a relative markdown link in README.md or docs/*.md points to a file that does not exist
    (http(s)/mailto links and in-page anchors are not checked).

template.yaml uses CloudFormation's short tags (`!Ref`, `!Sub`, ...), which a plain YAML
loader refuses, so its top-level sections are read by indentation only.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
TEMPLATE = os.path.join(ROOT, "template.yaml")
DEPLOY = os.path.join(DOCS, "deploy.md")
OPERATIONS = os.path.join(DOCS, "operations.md")
MAX_README_LINES = 200


def rel(path):
    return os.path.relpath(path, ROOT)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def is_blank_or_comment(line):
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def top_level_sections(text):
    """{section name: [its lines]} for every key at column 0 of the template."""
    sections = {}
    current = None
    for line in text.splitlines():
        if is_blank_or_comment(line):
            if current is not None:
                sections[current].append(line)
            continue
        if indent_of(line) == 0:
            match = re.match(r"^([A-Za-z0-9_]+)\s*:", line)
            current = match.group(1) if match else None
            if current is not None:
                sections[current] = []
            continue
        if current is not None:
            sections[current].append(line)
    return sections


def children(lines):
    """[(key, [its lines])] for the keys one level below a section (the first indentation used)."""
    child_indent = None
    entries = []
    for line in lines:
        if is_blank_or_comment(line):
            if entries:
                entries[-1][1].append(line)
            continue
        depth = indent_of(line)
        if child_indent is None:
            child_indent = depth
        if depth == child_indent:
            match = re.match(r"^\s*([A-Za-z0-9_]+)\s*:", line)
            if match:
                entries.append((match.group(1), []))
                continue
        if depth > child_indent and entries:
            entries[-1][1].append(line)
    return entries


def resource_type(lines):
    """The `Type:` directly under a resource (the shallowest one), or None."""
    body = [l for l in lines if not is_blank_or_comment(l)]
    if not body:
        return None
    depth = min(indent_of(l) for l in body)
    for line in body:
        if indent_of(line) == depth:
            match = re.match(r"^\s*Type\s*:\s*['\"]?([A-Za-z0-9:]+)", line)
            if match:
                return match.group(1)
    return None


def mentioned(name, text):
    return re.search(r"(?<![A-Za-z0-9_])" + re.escape(name) + r"(?![A-Za-z0-9_])", text) is not None


def check_readme(problems):
    text = read(README)
    lines = text.splitlines()
    if len(lines) > MAX_README_LINES:
        problems.append(f"README.md has {len(lines)} lines; at most {MAX_README_LINES} allowed (move details into docs/)")
    block = None
    inside = False
    for line in lines:
        if line.lstrip().startswith("```"):
            if inside:
                break
            inside = True
            block = []
            continue
        if inside:
            block.append(line)
    commands = [l for l in (block or []) if l.strip()]
    if block is None:
        problems.append("README.md has no fenced code block; the first one must be `./dev/run.sh` then `./dev/test.sh`")
    elif len(commands) != 2 or not commands[0].startswith("./dev/run.sh") or not commands[1].startswith("./dev/test.sh"):
        shown = " | ".join(commands) if commands else "(empty)"
        problems.append(
            "README.md's first fenced code block must be exactly two lines, `./dev/run.sh …` then "
            f"`./dev/test.sh …`; it is: {shown}"
        )


def check_template(problems):
    sections = top_level_sections(read(TEMPLATE))
    deploy = read(DEPLOY) if os.path.exists(DEPLOY) else ""
    operations = read(OPERATIONS) if os.path.exists(OPERATIONS) else ""
    if not deploy:
        problems.append("docs/deploy.md is missing")
    if not operations:
        problems.append("docs/operations.md is missing")

    for section, what in (("Parameters", "parameter"), ("Outputs", "output")):
        names = [name for name, _ in children(sections.get(section, []))]
        if not names:
            problems.append(f"template.yaml: no {section} found (the reader of dev/check-docs.py may need a fix)")
        for name in names:
            if deploy and not mentioned(name, deploy):
                problems.append(f"docs/deploy.md does not mention the template {what} `{name}`")

    resources = children(sections.get("Resources", []))
    if not resources:
        problems.append("template.yaml: no Resources found (the reader of dev/check-docs.py may need a fix)")
    functions = [name for name, body in resources if resource_type(body) == "AWS::Serverless::Function"]
    if resources and not functions:
        problems.append("template.yaml: no AWS::Serverless::Function resources found")
    for name in functions:
        if deploy and not mentioned(name, deploy):
            problems.append(f"docs/deploy.md does not mention the function resource `{name}`")
    for name, body in resources:
        if resource_type(body) == "AWS::CloudWatch::Alarm" and operations and not mentioned(name, operations):
            problems.append(f"docs/operations.md does not mention the alarm `{name}`")


INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(?:<([^>]*)>|([^)\s]+))(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")


def prose_lines(text):
    """The lines outside fenced code blocks, inline code spans removed, with their numbers."""
    inside = False
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip()
        if stripped.startswith("```") or stripped.startswith("~~~"):
            marker = stripped[:3]
            if not inside:
                inside, fence = True, marker
            elif marker == fence:
                inside = False
            continue
        if inside:
            continue
        yield number, re.sub(r"`[^`]*`", "", line)


def check_links(problems):
    pages = [README] + sorted(
        os.path.join(DOCS, name) for name in os.listdir(DOCS) if name.endswith(".md")
    )
    for page in pages:
        base = os.path.dirname(page)
        for number, line in prose_lines(read(page)):
            targets = [angled or bare for angled, bare in INLINE_LINK.findall(line)]
            definition = REFERENCE_DEF.match(line)
            if definition:
                targets.append(definition.group(1))
            for target in targets:
                if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # http(s)://, mailto:, …; anchors in the same page
                path = target.split("#", 1)[0].split("?", 1)[0]
                if not path:
                    continue
                resolved = os.path.normpath(os.path.join(ROOT if path.startswith("/") else base, path.lstrip("/")))
                if not os.path.exists(resolved):
                    problems.append(f"{rel(page)}:{number}: link to `{target}`, but {rel(resolved)} does not exist")


def main():
    problems = []
    check_readme(problems)
    check_template(problems)
    check_links(problems)
    if problems:
        print(f"check-docs: {len(problems)} problem(s):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("check-docs: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
