"""MkDocs hook: the docstrings are numpydoc, written for ``help()`` and Sphinx, so their
cross-references (``:func:`fit_palette```) reach the pages as ``:func:<code>...</code>``.
Drop the role, and link the name where the page documents it (``id="daskquant.<name>"``)."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|obj|data|exc):(<code>([\w.]+)</code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    ids = set(re.findall(r'id="(daskquant\.[\w.]+)"', html))

    def link(match: re.Match[str]) -> str:
        code, name = match.groups()
        target = name if name.startswith("daskquant.") else f"daskquant.{name}"
        return f'<a href="#{target}">{code}</a>' if target in ids else code

    return _ROLE.sub(link, html)
