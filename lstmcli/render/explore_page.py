"""The `explore` page: the static template `templates/explore.html` with the data document of
`analysis.explore` embedded as JSON in a `<script type="application/json">` element; the corpus is
data there, never markup (see `embed_json`)."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

from lstmcli.analysis.explore import ExploreResult
from lstmcli.errors import UsageError

_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")
MARKER = "/*EXPLORE_DATA*/null"


def embed_json(data: Any) -> str:
    """JSON that is safe inside an HTML `<script>` element: no `<`, `>` or `&` (so no `</script>`
    or `<!--` can end or change the element) and no U+2028/U+2029 (line breaks to older
    JavaScript). Each becomes its JSON \\u escape, which JSON.parse reads back as the same
    character. Only ever inside strings, since JSON has those characters nowhere else."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text)


def template() -> str:
    """The page's static template: package data (pyproject.toml's package-data ships it)."""
    return resources.files("lstmcli.render").joinpath("templates", "explore.html").read_text(encoding="utf-8")


def page(result: ExploreResult) -> str:
    """The page: the template with the data document in place of its one marker."""
    tpl = template()
    if tpl.count(MARKER) != 1:
        raise RuntimeError("lstmcli/render/templates/explore.html: expected exactly one data marker")
    # str.replace scans the template only: the data inserted is never searched again.
    return tpl.replace(MARKER, embed_json(result.document), 1)


def write_page(result: ExploreResult, out: Path) -> int:
    """Write the page atomically (a failed run leaves no half page); returns its size in bytes."""
    from lstmcli import runs

    if out.is_dir():
        raise UsageError(f"{out}: --out: expected a file name (PAGE.html), got a directory")
    html = page(result)
    runs.write_text(out, html)
    return len(html.encode("utf-8"))
