#!/usr/bin/python3
"""Every shell block of README.md says what runs its commands, and that is
true: the line before each ```sh block is

    <!-- run by: PATH[, PATH...] -->

naming tests or scripts of this repository, and every program the block
calls (the first word of each command) appears in at least one of them.
A block that cannot run on a test machine says so instead, with why:

    <!-- not run here: REASON -->

Usage: check_readme.py README.md REPO_ROOT"""
import os
import re
import shlex
import sys

# Shell words that are not programs.
SKIP = {"export", "cd", "&&", "||", "(", ")", "#"}


def programs(block):
    """The program of each command in a block, continuation lines joined."""
    out = []
    for line in re.sub(r"\\\n", " ", block).splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        for cmd in re.split(r"&&|\|\||;|\|", line):
            try:
                words = shlex.split(cmd.replace("(", " ").replace(")", " "))
            except ValueError:
                words = cmd.split()
            if words and words[0] == "cd":
                words = words[2:]  # cd DIR: a builtin and its argument
            words = [w for w in words if w not in SKIP and not re.match(r"^\w+=", w)]
            if words and words[0] != "export":
                out.append(os.path.basename(words[0]))
    return out


def main():
    readme, root = sys.argv[1], sys.argv[2]
    text = open(readme).read()
    bad = 0
    for m in re.finditer(r"(?m)^```sh\n(.*?)^```", text, re.S):
        before = text[:m.start()].rstrip().splitlines()
        marker = before[-1] if before else ""
        line = text[:m.start()].count("\n") + 1
        if re.match(r"<!-- not run here: .+ -->$", marker):
            continue
        run = re.match(r"<!-- run by: (.+) -->$", marker)
        if not run:
            print(f"README.md:{line}: shell block without a <!-- run by: ... --> line")
            bad = 1
            continue
        paths = [p.strip() for p in run.group(1).split(",")]
        sources = ""
        for p in paths:
            full = os.path.join(root, p)
            if not os.path.isfile(full):
                print(f"README.md:{line}: {p} does not exist")
                bad = 1
                continue
            sources += open(full, errors="replace").read()
        for prog in programs(m.group(1)):
            if not re.search(r"(^|[^\w-])" + re.escape(prog) + r"($|[^\w-])", sources):
                print(f"README.md:{line}: {prog} is not run by {', '.join(paths)}")
                bad = 1
    if not bad:
        print("every README command block is run by a test or the demo")
    return bad


if __name__ == "__main__":
    sys.exit(main())
