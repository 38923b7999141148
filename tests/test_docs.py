"""The documentation's shell blocks run as written, and its relative links resolve.

The convention (docs/README.md, "Runnable blocks"): the line right before a fenced block's opening fence is
`<!-- runnable -->`, `<!-- runnable slow -->` (needs the real default voice) or `<!-- not run: REASON -->`.
Every `bash`/`sh`/`shell`/`console` block must carry one; `python` blocks may be marked runnable.
Runnable blocks run with `bash -euo pipefail` (or the venv's Python) in a fresh temporary directory, the
venv's bin/ first on PATH and VOXPORT_CACHE_DIR on a cache shared by the test session.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
RUNNABLE_LANGUAGES = SHELL_LANGUAGES | {"python"}
TIMEOUT_S = {"fast": 60, "slow": 300}  # per block; a slow block may build the default voice (~10 s)
MARKER = re.compile(r"^<!--\s*(runnable(?:\s+slow)?|not run:\s*(?P<reason>.*?))\s*-->$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    marker: str | None  # "runnable", "runnable slow", "not run: ...", or None
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def parse_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i].strip())
        if not match:
            i += 1
            continue
        fence, info = match["fence"], match["info"].strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(fence) and not lines[i].strip().strip(fence[0])):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        before = lines[start - 1].strip() if start > 0 else ""
        marker = before[4:-3].strip() if before.startswith("<!--") and before.endswith("-->") else None
        language = info.split()[0].lower() if info else ""
        blocks.append(Block(path, start + 1, language, marker, "\n".join(body) + "\n"))
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in doc_files() for block in parse_blocks(path)]


def runnable_params() -> list:
    params = []
    for block in all_blocks():
        if block.marker and block.marker.startswith("runnable"):
            marks = [pytest.mark.slow] if block.marker == "runnable slow" else []
            params.append(pytest.param(block, marks=marks, id=block.where))
    return params


# --- every shell block is either runnable or says why not ----------------------------------------------


def marker_problems(blocks: list[Block]) -> list[str]:
    problems = []
    for block in blocks:
        if block.marker is None:
            if block.language in SHELL_LANGUAGES:
                problems.append(
                    f"{block.where}: a {block.language} block with neither <!-- runnable --> nor "
                    "<!-- not run: REASON --> on the line before its fence"
                )
            continue
        match = MARKER.match(f"<!-- {block.marker} -->")
        if not match:
            if block.language in SHELL_LANGUAGES:
                problems.append(f"{block.where}: unknown marker <!-- {block.marker} -->")
            continue
        if block.marker.startswith("not run") and not match["reason"]:
            problems.append(f"{block.where}: <!-- not run: --> without a reason")
        if block.marker.startswith("runnable") and block.language not in RUNNABLE_LANGUAGES:
            problems.append(f"{block.where}: a {block.language or 'plain'} block cannot be runnable")
    return problems


def test_every_shell_block_is_marked():
    blocks = all_blocks()
    assert any(b.marker and b.marker.startswith("runnable") for b in blocks)
    assert marker_problems(blocks) == []


def test_an_unmarked_shell_block_is_caught(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("text\n\n```bash\nvoxport --help\n```\n\n<!-- not run: -->\n```sh\nx\n```\n", encoding="utf-8")
    blocks = [Block(ROOT / "README.md", b.line, b.language, b.marker, b.code) for b in parse_blocks(page)]
    problems = marker_problems(blocks)
    assert len(problems) == 2 and "neither" in problems[0] and "without a reason" in problems[1]


# --- runnable blocks run ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docs_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("docs_voxport_cache")


def run_block(block: Block, workdir: Path, cache: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "voxport").exists(), f"no voxport beside {sys.executable}: run the tests from the venv"
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", VOXPORT_CACHE_DIR=str(cache))
    env.pop("PYTHONPATH", None)
    if block.language == "python":
        script = workdir / "block.py"
        script.write_text(block.code, encoding="utf-8")
        command = [str(bin_dir / "python"), str(script)]
    else:
        script = workdir / "block.sh"
        script.write_text("set -euo pipefail\n" + block.code, encoding="utf-8")
        command = ["bash", str(script)]
    timeout = TIMEOUT_S["slow" if block.marker == "runnable slow" else "fast"]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("block", runnable_params())
def test_runnable_block(block: Block, tmp_path, docs_cache):
    if block.marker == "runnable slow":
        # The default voice is built into the cache on first use, by `voxport build`: the export extra.
        for module in ("torch", "onnx"):
            pytest.importorskip(module, reason=f"building the default voice needs the export extra ({module})")
    work = tmp_path / "work"
    work.mkdir()
    result = run_block(block, work, docs_cache)
    assert result.returncode == 0, (
        f"{block.where} exited {result.returncode}\n--- block\n{block.code}--- stdout\n{result.stdout[-3000:]}"
        f"--- stderr\n{result.stderr[-3000:]}"
    )


def test_a_failing_block_fails(tmp_path, docs_cache):
    """`set -euo pipefail`: a failing command in the middle of a block fails it."""
    block = Block(ROOT / "README.md", 1, "bash", "runnable", "false | cat\necho reached\n")
    result = run_block(block, tmp_path, docs_cache)
    assert result.returncode != 0 and "reached" not in result.stdout


# --- relative links resolve ---------------------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(path: Path) -> list[tuple[int, str]]:
    """Lines outside fenced blocks, with inline code spans removed."""
    out, fence = [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line.strip())
        if fence is None and match:
            fence = match["fence"]
            continue
        if fence is not None:
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = None
            continue
        out.append((number, re.sub(r"(`+).*?\1", "", line)))
    return out


def github_slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    counts: dict[str, int] = {}
    for _, line in prose_lines_with_code(path):
        match = HEADING.match(line)
        if match:
            slug = github_slug(match[2])
            n = counts.get(slug, 0)
            counts[slug] = n + 1
            found.add(slug if n == 0 else f"{slug}-{n}")
        found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", line))
    return found


def prose_lines_with_code(path: Path) -> list[tuple[int, str]]:
    """Lines outside fenced blocks (headings keep their inline code, which their slug includes)."""
    kept = {number for number, _ in prose_lines(path)}
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(n, lines[n - 1]) for n in sorted(kept)]


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto: ...
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(root)}:{number}"
            if not dest.exists():
                problems.append(f"{where}: {target} -> no such file")
            elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
                problems.append(f"{where}: {target} -> no heading #{anchor} in {dest.name}")
    return problems


def test_relative_links_resolve():
    problems = [problem for path in doc_files() for problem in link_problems(path)]
    assert problems == []


def test_a_broken_link_is_caught(tmp_path):
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    (tmp_path / "other.md").write_text("# Other page\n\n## Cold shapes: `a_b.py`\n", encoding="utf-8")
    page.write_text(
        "[ok](../other.md#cold-shapes-a_bpy) [ok](#here) [web](https://example.com/x.md)\n"
        "[gone](missing.md) [bad anchor](../other.md#nowhere) `[in code](missing.md)`\n\n## Here\n",
        encoding="utf-8",
    )
    problems = link_problems(page, root=tmp_path)
    assert len(problems) == 2 and "missing.md" in problems[0] and "#nowhere" in problems[1]
