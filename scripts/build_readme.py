"""Assemble README.md from the sections in docs/readme/ (sorted by file name).

    python scripts/build_readme.py           # write README.md
    python scripts/build_readme.py --check   # exit 1 when README.md is not what the sections give

The README is the short front page (at most MAX_LINES lines); the guides it links to
(docs/USER_GUIDE.md, DATASETS.md, MODELS.md, RESULTS.md, API.md, METHOD.md) are edited directly.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "readme"
README = ROOT / "README.md"
MAX_LINES = 300


def assemble() -> str:
    parts = [p.read_text().strip() for p in sorted(SECTIONS.glob("*.md"))]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    text = assemble()
    lines = len(text.splitlines())
    if lines > MAX_LINES:
        print(f"README.md would have {lines} lines (at most {MAX_LINES}): move detail into docs/",
              file=sys.stderr)
        return 1
    if "--check" in argv:
        if not README.is_file() or README.read_text() != text:
            print("README.md is out of date: run python scripts/build_readme.py", file=sys.stderr)
            return 1
        print(f"README.md is current ({lines} lines)")
        return 0
    README.write_text(text)
    print(f"README.md: {len(list(SECTIONS.glob('*.md')))} sections, {lines} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
