"""The README and the documentation pages run as written, and cite only files that exist.

* every ```python block of README.md and docs/**/*.md runs on its own in a fresh folder;
* the README's shell lines run in order in one fresh folder (installs and the test suite
  itself excepted), with the package already installed;
* no docstring, README or docs line cites a file the repository lacks;
* every public name is in the API reference, and the site builds with ``mkdocs --strict``.

A block preceded by ``<!-- no-test: reason -->`` is not run (say why in the comment).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
SHELL = {"bash", "sh", "console", "shell"}
# README shell lines that are not run: installs change the environment, and the test suite
# would run itself.
NOT_RUN = re.compile(r"pip install|-m venv|pytest")
TEAM_NOTES = re.compile(r"\b(MATH|DESIGN|EXPERIMENTS)\.md\b")
DOCS_PATH = re.compile(r"\bdocs/[\w./-]+\.md\b")


def fenced_blocks(text: str) -> list[tuple[int, str, str, str | None]]:
    """``(line, language, code, no_test_reason)`` of every fenced block, in order."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1)
        j = i + 1
        while j < len(lines) and not re.match(r"^```\s*$", lines[j]):
            j += 1
        before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        skip = re.match(r"<!--\s*no-test:?\s*(.*?)\s*-->", before)
        out.append(
            (
                start + 1,
                lang,
                "\n".join(lines[i + 1 : j]) + "\n",
                (skip.group(1) or "no reason given") if skip else None,
            )
        )
        i = j + 1
    return out


def shell_lines(code: str) -> list[str]:
    """Commands of a shell block: prompts and comments dropped, continuations joined."""
    commands, current = [], ""
    for raw in code.splitlines():
        line = raw.removeprefix("$ ")
        if current:
            current += " " + line.strip()
        elif line.strip() and not line.lstrip().startswith("#"):
            current = line.strip()
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        if current:
            commands.append(current)
        current = ""
    return commands


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["MPLBACKEND"] = "Agg"
    return env


def _python_blocks():
    for page in PAGES:
        for line, lang, code, skip in fenced_blocks(page.read_text()):
            if lang == "python":
                marks = [pytest.mark.skip(reason=skip)] if skip else []
                yield pytest.param(code, id=f"{page.relative_to(ROOT)}:{line}", marks=marks)


def test_fenced_blocks_and_shell_lines_parse():
    text = "x\n<!-- no-test: slow -->\n```python\na = 1\n```\n```bash\nls \\\n  -l\n# c\n```\n"
    assert fenced_blocks(text) == [
        (3, "python", "a = 1\n", "slow"),
        (6, "bash", "ls \\\n  -l\n# c\n", None),
    ]
    assert shell_lines("$ ls \\\n  -l\n# c\necho hi\n") == ["ls -l", "echo hi"]


@pytest.mark.parametrize("code", list(_python_blocks()))
def test_python_block_runs_alone(code, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.stdout.strip(), "an example prints what it shows"


def test_readme_shell_lines_run_in_order(tmp_path):
    commands = [
        (line, cmd)
        for line, lang, code, skip in fenced_blocks(README.read_text())
        if lang in SHELL and not skip
        for cmd in shell_lines(code)
    ]
    run = [(line, cmd) for line, cmd in commands if not NOT_RUN.search(cmd)]
    assert any("spectralnn complete" in cmd for _, cmd in run)
    assert any("spectralnn reproduce" in cmd for _, cmd in run)
    for line, cmd in run:
        proc = subprocess.run(
            cmd,
            shell=True,
            executable="/bin/bash",
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 0, (
            f"README.md block at line {line}: {cmd}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    assert (tmp_path / "completed.csv").is_file()
    assert (tmp_path / "figs" / "fig2.png").is_file()


def _cited_files():
    sources = [*sorted((ROOT / "src").rglob("*.py")), *PAGES, ROOT / "CHANGELOG.md"]
    for path in sources:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            yield path.relative_to(ROOT), n, line


def test_no_citation_of_files_the_repository_lacks():
    bad = []
    for where, n, line in _cited_files():
        bad += [f"{where}:{n}: {m.group(0)}" for m in TEAM_NOTES.finditer(line)]
        bad += [
            f"{where}:{n}: {m.group(0)}"
            for m in DOCS_PATH.finditer(line)
            if not (ROOT / m.group(0)).is_file()
        ]
    assert not bad, "cited files that are not in the repository:\n" + "\n".join(bad)


def test_readme_links_exist():
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)|(?:src|href)=\"([^\"#]+)\"", README.read_text())
    local = [t for pair in targets for t in pair if t and not re.match(r"[a-z]+:", t)]
    assert local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, missing


def test_readme_results_section_has_the_markers():
    text = README.read_text()
    assert text.count("## Results on real data") == 1
    start, end = text.index("<!-- results:start -->"), text.index("<!-- results:end -->")
    assert text.index("## Results on real data") < start < end


def test_every_public_name_is_in_the_api_reference():
    import spectralnn

    api = (DOCS / "api.md").read_text()
    members = set(re.findall(r"^\s+- (\w+)\s*$", api, flags=re.MULTILINE))
    modules = set(re.findall(r"^::: spectralnn\.(\w+)\s*$", api, flags=re.MULTILINE))
    missing = [
        name
        for name in spectralnn.__all__
        if name not in members | modules and f"`snn.{name}`" not in api
    ]
    assert not missing, f"not in docs/api.md: {missing}"
    for module in ("theory", "metrics", "recipe", "functional"):
        assert module in modules


def test_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--quiet",
            "--site-dir",
            str(tmp_path / "site"),
        ],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
