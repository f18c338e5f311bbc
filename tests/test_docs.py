"""The documentation: it builds strictly, its generated pages are fresh, its code runs."""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("material")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    # strict mode fails on warnings; -q used to hide griffe's, so none may be printed at all
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == [], "\n".join(warnings[:30])
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    assert (site / "nomenclature" / "index.html").is_file()
    # the API reference was rendered from docstrings, doctests as code blocks
    ref = (site / "reference" / "composite" / "index.html").read_text(encoding="utf-8")
    assert "composite_schedule" in ref
    before = ref[: ref.index("tx_default")]  # the module doctest is code, not a paragraph
    assert before.rfind("<pre") > before.rfind("<p>")


def test_nomenclature_page_is_fresh() -> None:
    gen = _load("gen_nomenclature")
    committed = (DOCS / "nomenclature.md").read_text(encoding="utf-8")
    assert committed == gen.render(), (
        "docs/nomenclature.md is stale: run `python docs/gen_nomenclature.py`"
    )


def test_nomenclature_maps_every_alias() -> None:
    from smartcharge.model import ChargingProfile, DCChargingParameters

    text = _load("gen_nomenclature").render()
    for cls in (ChargingProfile, DCChargingParameters):
        for attr, field in cls.model_fields.items():
            assert f"| `{field.alias}` | `{attr}` |" in text
    assert "| `fullSoC` | `full_soc` |" in text
    assert "| `stackLevel` | `stack_level` | yes |" in text


def test_fence_doctests() -> None:
    fence = _load("griffe_doctest").fence_doctests
    text = 'Intro.\n>>> x = {"a": [1]}\n>>> x["a"][0]\n1\n\nAfter.\n```\n>>> kept\n```'
    assert fence(text) == (
        'Intro.\n\n```pycon\n>>> x = {"a": [1]}\n>>> x["a"][0]\n1\n```\n\nAfter.\n'
        "```\n>>> kept\n```"
    )


def test_concept_images_generate(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    written = _load("gen_images").generate(tmp_path)
    assert [p.name for p in written] == ["stack-levels.png", "purposes.png",
                                            "demo-site-load.png"]
    for path in written:
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert (DOCS / "img" / path.name).is_file(), f"docs/img/{path.name} is not committed"


_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# pages whose code is meant to run as it stands (the optimizer's and the benchmarks' pages
# show fragments)
_RUNNABLE = [DOCS / "index.md", DOCS / "getting-started.md", DOCS / "concepts.md",
             *sorted((DOCS / "how-to").glob("*.md"))]
PAGES = [p for p in _RUNNABLE if _BLOCK.search(p.read_text(encoding="utf-8"))]


def _claims(block: str) -> dict[int, str]:
    """Line -> the comment after the code on it: what the page says a print there prints.
    Comment-only lines right below a line continue its comment (a claim too long for one
    line)."""
    out: dict[int, str] = {}
    lines = block.splitlines()
    for tok in tokenize.generate_tokens(io.StringIO(block).readline):
        if tok.type != tokenize.COMMENT:
            continue
        line, text = tok.start[0], tok.string.lstrip("#").strip()
        own = line
        while own > 1 and lines[own - 1].lstrip().startswith("#"):
            own -= 1  # a comment-only line: it belongs to the code line above
        out[own] = f"{out[own]} {text}" if own in out else text
    return out


class _RecordPrints(ast.NodeTransformer):
    """``print(...)`` -> ``__print__(line, ...)``: records what each print line prints."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "print":
            line = ast.Constant(node.end_lineno)  # the comment follows the closing ")"
            return ast.copy_location(
                ast.Call(ast.Name("__print__", ast.Load()), [line, *node.args], node.keywords),
                node,
            )
        return node


def _says(claim: str, printed: str) -> bool:
    """The comment states the output: it is the output, or the output then ``:`` and prose
    (``# 0: nothing changed, nothing sent``); ``...`` in it stands for any text."""
    if "..." in claim:
        pattern = ".*".join(re.escape(part) for part in claim.split("..."))
        return re.fullmatch(pattern, printed) is not None
    return claim == printed or claim.startswith(printed + ":")


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_python_blocks_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of a page runs, in order, in one namespace, and prints what the
    page says: the comment on a ``print(...)`` line is checked against the first line that
    print wrote (exactly, or followed by ``:`` and an explanation)."""
    text = page.read_text(encoding="utf-8")
    if "plot" in text:
        pytest.importorskip("matplotlib")
    if "import websockets" in text:  # the loopback CSMS/station pages
        pytest.importorskip("websockets")
        pytest.importorskip("ocpp")
    monkeypatch.chdir(tmp_path)
    printed: dict[tuple[int, int], list[str]] = {}
    block_no = 0

    def record(line: int, *args: object, sep: str | None = " ", **kw: object) -> None:
        text = (" " if sep is None else sep).join(map(str, args))
        printed.setdefault((block_no, line), []).append(text)
        print(*args, sep=sep, **kw)  # type: ignore[call-overload]

    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}", "__print__": record}
    wrong = []
    for i, block in enumerate(_BLOCK.findall(page.read_text(encoding="utf-8"))):
        block_no = i
        tree = ast.fix_missing_locations(_RecordPrints().visit(ast.parse(block)))
        exec(compile(tree, f"{page.name}[block {i}]", "exec"), namespace)
        for line, claim in _claims(block).items():
            got = printed.get((i, line))
            if got is not None and not _says(claim, got[0].splitlines()[0]):
                wrong.append(f"block {i} line {line}: prints {got[0]!r}, the page says {claim!r}")
    assert wrong == []


def test_printed_claims_are_checked() -> None:
    """The check above can fail: a print whose comment states another value is caught."""
    assert _says("0: nothing changed, nothing sent", "0")
    assert not _says("0: nothing changed, nothing sent", "4")
    assert _says("[(0, 10.0)]", "[(0, 10.0)]")
    assert not _says("40 SetChargingProfile", "40")
    assert _says("{'a': ..., 'b': ...}", "{'a': 1, 'b': [2]}")
    assert not _says("{'a': ..., 'b': ...}", "{'a': 1}")
    tree = _RecordPrints().visit(ast.parse("x = 4\nprint(x)  # 0: nothing sent\n"))
    seen: list[tuple[int, str]] = []
    exec(compile(ast.fix_missing_locations(tree), "t", "exec"),
         {"__print__": lambda line, *a: seen.append((line, " ".join(map(str, a))))})
    assert seen == [(2, "4")]
    assert _claims("x = 4\nprint(x)  # 0: nothing sent\n") == {2: "0: nothing sent"}
    assert _claims("print(x)\n# 0: nothing\n# sent\n") == {1: "0: nothing sent"}


def test_how_to_pages_have_code() -> None:
    for page in (DOCS / "how-to").glob("*.md"):
        assert _BLOCK.search(page.read_text(encoding="utf-8")), f"{page.name} shows no code"


def test_every_page_is_in_the_nav() -> None:
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))

    def pages(node: object) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [p for item in node for p in pages(item)]
        if isinstance(node, dict):
            return [p for value in node.values() for p in pages(value)]
        return []

    in_nav = set(pages(config["nav"]))
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert on_disk - in_nav == set(), "add these pages to the nav in mkdocs.yml"
    assert in_nav - on_disk == set(), "the nav names pages that do not exist"


def test_getting_started_shows_the_demo_table_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from smartcharge.cli import main

    assert main(["demo", "--no-plot", "--out", str(tmp_path)]) == 0
    table = capsys.readouterr().out.split("\n\n")[0].strip()
    page = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    assert table in page, f"update the demo table in docs/getting-started.md to:\n{table}"
