"""The fault matrix docs/fault-matrix.md shows: the test session writes what it measured to
build/fault-matrix.md (git-ignored); `invoke lab.fault-matrix` copies that into the doc.
No test run rewrites a tracked file."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ROOT / "build" / "fault-matrix.md"
README = ROOT / "docs" / "fault-matrix.md"  # the measured matrix is shown there
START, END = "<!-- fault-matrix:start -->", "<!-- fault-matrix:end -->"


def write_measured(markdown: str, path: Path = MEASURED) -> Path:
    """Where a full, passing test run leaves its matrix (never a tracked file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown)
    return path


def into_readme(markdown: str, readme_text: str) -> str:
    """The README with its fault-matrix section replaced by `markdown`."""
    if START not in readme_text or END not in readme_text:
        raise ValueError(f"the README has no {START} ... {END} section")
    head, rest = readme_text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + START + "\n" + markdown + END + tail
