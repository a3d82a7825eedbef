"""The Dockerfile and .dockerignore read the way Docker reads them: instructions per stage, and whether
a path reaches the build context."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass

from tests.deployment import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def exec_form(self) -> list[str]:
        return json.loads(self.arguments) if self.arguments.startswith("[") else shlex.split(self.arguments)


def stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, continuation lines joined, one list per FROM."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        keyword, _, arguments = (pending + text).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    found: list[list[Instruction]] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def build_args() -> dict[str, str]:
    args = {}
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("ARG ") and "=" in line:
            name, _, default = line[4:].strip().partition("=")
            args[name] = default
    return args


def final_stage() -> list[Instruction]:
    return stages()[-1]


def only(stage: list[Instruction], keyword: str) -> Instruction:
    found = [instruction for instruction in stage if instruction.keyword == keyword]
    assert len(found) == 1, f"the final stage of the Dockerfile has {len(found)} {keyword} instructions, not one"
    return found[0]


def copied_sources() -> set[str]:
    """What the stages COPY from the build context (not from other stages)."""
    sources = set()
    for stage in stages():
        for instruction in stage:
            if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
                sources.update(part.rstrip("/") for part in instruction.exec_form[:-1])
    return sources


def dockerignore_admits(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or any folder above it, decides."""
    admitted = True
    for line in DOCKERIGNORE.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        expression = glob_expression(pattern.lstrip("!").strip("/"))
        parts = path.split("/")
        if any(expression.fullmatch("/".join(parts[:depth])) for depth in range(1, len(parts) + 1)):
            admitted = negated
    return admitted


def glob_expression(pattern: str) -> re.Pattern[str]:
    """A Go-style glob (`*`, `?`, `[...]`, `**`) as a regular expression over `/`-separated paths."""
    translated = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            translated, index = translated + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            translated, index = translated + ".*", index + 2
        elif pattern[index] == "*":
            translated, index = translated + "[^/]*", index + 1
        elif pattern[index] == "?":
            translated, index = translated + "[^/]", index + 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            translated, index = translated + pattern[index : end + 1], end + 1
        else:
            translated, index = translated + re.escape(pattern[index]), index + 1
    return re.compile(translated)
