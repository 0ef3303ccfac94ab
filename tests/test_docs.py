"""The docs stay honest: links resolve, the repo names no file outside itself, every
params.yaml key is documented in docs/reference/params.md (and nothing else is), and the
README stays a short guide.

Fast (no pipeline, no torch): stdlib + yaml only.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PARAMS_DOC = ROOT / "docs" / "reference" / "params.md"
README_MAX_LINES = 250

# Mappings whose children are task names or free-form names, not fixed keys: params.md
# documents the mapping itself (`collect.train`), never one entry per task. Add a new
# free-form mapping here (and document it as one row in params.md).
FREE_FORM_MAPPINGS = {
    "collect.train",         # task -> train rows
    "collect.test",          # task -> held-out rows
    "sft.oversample",        # task -> times each train row is seen per epoch
    "evaluate.extra_models", # model name -> local model dir
    "families",              # task name -> the module of a family of your own
    "sft.trl",               # any further SFTConfig field
    "grpo.trl",              # any further GRPOConfig field
}

# Names of files outside the repository; the repo must be self-contained. Built from parts,
# so that not even this file names them (it is scanned too).
OUTSIDE_PATTERNS = [f"{name}.md" for name in ("TASKS", "FACTS", "DESIGN")] + ["../" + "shared", "/" + "work/"]

LINK_RE = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
INLINE_CODE_RE = re.compile(r"`+[^`]*`+")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks(text: str):
    """(line number, line, inside a fenced code block?) for every line. A fence opens with
    3+ backticks or tildes (a backtick fence's info string has no backtick: a line starting
    with ```` ```python ```` is inline code) and closes with the same character, as long."""
    fence = None
    for i, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if fence is None:
            if m and not (m.group(1)[0] == "`" and "`" in m.group(2)):
                fence = m.group(1)
                yield i, line, True
                continue
            yield i, line, False
        else:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) and not m.group(2).strip():
                fence = None
            yield i, line, True


def _prose_lines(text: str):
    """(line number, line) outside fenced code blocks, inline code removed."""
    for i, line, fenced in _blocks(text):
        if not fenced:
            yield i, INLINE_CODE_RE.sub("", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces -> '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)   # a link: its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for _i, line, fenced in _blocks(path.read_text()):
        m = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out


def test_relative_links_resolve():
    bad = []
    cache: dict[Path, set[str]] = {}
    for md in markdown_files():
        for lineno, line in _prose_lines(md.read_text()):
            for m in LINK_RE.finditer(line):
                target = m.group(1) or m.group(2)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):   # http(s):, mailto:, ...
                    continue
                path, _, anchor = target.partition("#")
                dest = (md.parent / path).resolve() if path else md
                where = f"{md.relative_to(ROOT)}:{lineno}: {target}"
                if not dest.exists():
                    bad.append(f"{where} (no such file)")
                    continue
                try:
                    dest.relative_to(ROOT)
                except ValueError:
                    bad.append(f"{where} (outside the repository)")
                    continue
                if anchor and dest.suffix == ".md":
                    if dest not in cache:
                        cache[dest] = anchors(dest)
                    if anchor not in cache[dest]:
                        bad.append(f"{where} (no heading with anchor #{anchor})")
    assert not bad, "broken relative links:\n" + "\n".join(bad)


def _scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "params.yaml", ROOT / "Makefile", ROOT / "dvc.yaml"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    for folder in ("src", "stages", "params"):
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and not any(part.endswith(".egg-info") for part in p.parts))   # pip's, git-ignored
    files += sorted((ROOT / "benchmarks").glob("*.py"))
    files += sorted((ROOT / "tests").glob("*.py"))
    return [f for f in files if f.is_file()]


def test_no_reference_to_files_outside_the_repo():
    bad = []
    for f in _scanned_files():
        try:
            text = f.read_text()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            hits = [p for p in OUTSIDE_PATTERNS if p in line]
            if hits:
                bad.append(f"{f.relative_to(ROOT)}:{i}: {', '.join(hits)}: {line.strip()[:120]}")
    assert not bad, ("files outside the repository are named (the repo must be self-contained: "
                     "point to docs/reference/validators.md or docs/ instead):\n" + "\n".join(bad))


def params_leaf_keys(node, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v and key not in FREE_FORM_MAPPINGS:
            keys |= params_leaf_keys(v, key + ".")
        else:
            keys.add(key)
    return keys


def documented_keys() -> set[str]:
    keys = set()
    for line in PARAMS_DOC.read_text().splitlines():
        if not line.lstrip().startswith("|"):
            continue
        first = line.strip().strip("|").split("|")[0].strip()
        m = re.fullmatch(r"`([A-Za-z0-9_]+(?:\.[A-Za-z0-9_+-]+)*)`", first)   # a top-level leaf too (families)
        if m:
            keys.add(m.group(1))
    return keys


def test_params_doc_matches_params_yaml():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    actual = params_leaf_keys(params)
    documented = documented_keys()
    missing = sorted(actual - documented)
    extra = sorted(documented - actual)
    msg = []
    if missing:
        msg.append("params.yaml keys not documented in docs/reference/params.md (add a table row "
                   "`| `key` | type | default | meaning |`):\n  " + "\n  ".join(missing))
    if extra:
        msg.append("docs/reference/params.md documents keys that params.yaml no longer has "
                   "(renamed or removed: update the rows):\n  " + "\n  ".join(extra))
    assert not msg, "\n".join(msg)


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines (at most {README_MAX_LINES}): move detail to docs/"


@pytest.mark.parametrize("heading, expected", [
    ("Decision tasks: Q-value CSVs → Boltzmann rewards", "decision-tasks-q-value-csvs--boltzmann-rewards"),
    ("`collect` — rows", "collect--rows"),
    ("Several machines", "several-machines"),
])
def test_slug(heading, expected):
    assert slug(heading) == expected
