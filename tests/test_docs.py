"""The README is the short generated front page; every guide it links to exists, and every
relative link and anchor in the README and docs/ resolves."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
GUIDES = ("USER_GUIDE.md", "DATASETS.md", "MODELS.md", "RESULTS.md", "API.md", "METHOD.md")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.M)}


def links(path: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", path.read_text()))


def test_readme_is_generated_from_its_sections_and_current():
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "build_readme.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_readme_is_at_most_300_lines():
    assert len(README.read_text().splitlines()) <= 300


def test_readme_has_the_two_commands_the_screenshots_and_links_every_guide():
    text = README.read_text()
    assert "make run" in text and "make test" in text
    for image in sorted((DOCS / "images").glob("*.png")):
        assert f"docs/images/{image.name}" in text, image.name
    targets = set(links(README))
    for guide in GUIDES:
        assert (DOCS / guide).is_file(), guide
        assert any(t.split("#")[0] == f"docs/{guide}" for t in targets), guide


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for doc in [README, *sorted(DOCS.glob("*.md"))]:
        for target in links(doc):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (doc.parent / file_part).resolve() if file_part else doc
            if not dest.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_api_doc_names_only_modules_that_exist():
    text = (DOCS / "API.md").read_text()
    named = set(re.findall(r"`(?:fsmde_gui/)?((?:core|data|models|training|export|commands|app|"
                           r"app_model)/[\w/]+\.py)`", text))
    assert named, "API.md names no module"
    missing = sorted(n for n in named if not (REPO / "fsmde_gui" / n).is_file())
    assert not missing, missing
    for module in ("models/archs.py", "training/recipe_registry.py", "commands/registry.py"):
        assert module in text
    assert "later" not in re.sub(r"later calls", "", text)  # nothing announced as to come
