"""No path of a development machine in what the repository ships: benchmark defaults, recorded commands in
`benchmarks/results/` and in the zoo's `assets/`, docs. Commands there are re-run from a fresh clone, so they
name repository-relative paths (`runs/NAME`, `benchmarks/.venvs/lightly/bin/python`) or a temporary folder
found at run time. System paths of Debian packages (`/usr/share/datasets/...`) are not machine paths."""

import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A home, scratch or temporary folder at the start of a path (not inside a URL or a longer path).
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|root|home|tmp|Users|scratch)/[\w.-]")


def _tracked_text_files():
    if (
        shutil.which("git") is None
        or not os.path.isdir(os.path.join(ROOT, ".git"))
        and not os.path.isfile(os.path.join(ROOT, ".git"))
    ):
        pytest.skip("not a git checkout: the tracked files are unknown")
    names = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
        .stdout.decode("utf-8")
        .split("\0")
    )
    for name in filter(None, names):
        path = os.path.join(ROOT, name)
        if not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            head = f.read(8192)
            if b"\0" in head:  # binary: SavedModel protos, variables, images
                continue
            text = (head + f.read()).decode("utf-8", "replace")
        yield name, text


def test_the_pattern_finds_machine_paths_and_spares_system_and_url_paths():
    found = ["/" + "work/runs/x", "--root /" + "tmp/bench", "'/" + "home/me/data'", "/" + "root/.cache/x"]
    spared = ["/usr/share/datasets/fashion-mnist", "https://example.org/home/page", "runs/x", "a/tmp/b"]
    assert all(MACHINE_PATH.search(s) for s in found)
    assert not any(MACHINE_PATH.search(s) for s in spared)


def test_no_tracked_text_file_holds_a_development_machine_path():
    offenders = []
    checked = 0
    for name, text in _tracked_text_files():
        checked += 1
        for number, line in enumerate(text.splitlines(), 1):
            if MACHINE_PATH.search(line):
                offenders.append(f"{name}:{number}: {line.strip()[:160]}")
    assert checked > 100, f"only {checked} tracked text files read"
    assert not offenders, (
        "paths of one machine in tracked files (use a path relative to the repository, e.g. runs/NAME, or a "
        "temporary folder found at run time):\n" + "\n".join(offenders)
    )
