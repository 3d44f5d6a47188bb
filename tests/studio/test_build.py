"""The studio's committed build (src/loom/server/studio/) is what its sources build
to: rebuilt and compared with npm's pinned esbuild, type-checked with TypeScript."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCES = ROOT / "studio"
BUILT = ROOT / "src" / "loom" / "server" / "studio"


def test_the_built_files_are_shipped_in_the_package() -> None:
    for name in ("index.html", "studio.js", "studio.css"):
        assert (BUILT / name).stat().st_size > 200, name
    page = (BUILT / "index.html").read_text()
    assert 'src="studio.js"' in page and 'href="studio.css"' in page
    assert "http" not in page  # nothing from elsewhere: no CDN, no external font


def test_the_committed_build_matches_the_sources() -> None:
    if shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is needed in CI to check the studio's build")
        pytest.skip("npm is not installed: cannot rebuild the studio to compare")
    if not (SOURCES / "node_modules" / "esbuild").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SOURCES, check=True,
                       capture_output=True, timeout=300)
    typed = subprocess.run(["npx", "--no-install", "tsc", "-p", "."], cwd=SOURCES,
                           capture_output=True, text=True, timeout=120)
    assert typed.returncode == 0, typed.stdout + typed.stderr
    check = subprocess.run(["node", "build.mjs", "--check"], cwd=SOURCES, capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0, (check.stdout + check.stderr
                                   + "\nrebuild it: cd studio && npm run build, then commit")
