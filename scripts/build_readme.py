"""Assemble README.md from the sections in docs/readme/ (sorted by file name)."""
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
parts = [p.read_text().strip() for p in sorted((ROOT / "docs" / "readme").glob("*.md"))]
(ROOT / "README.md").write_text("\n\n".join(parts) + "\n")
print(f"README.md: {len(parts)} sections")
