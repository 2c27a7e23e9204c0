"""Judge prompt templates: loading (with a check of their placeholders) and filling."""

from __future__ import annotations

import re
from pathlib import Path

from srlm.core.errors import SrlmError
from srlm.core.io import read_text


def load_template(path: str, placeholders: tuple[str, ...] = ("{prompt}", "{response}")) -> str:
    """Read a judge template file and check it has every placeholder."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SrlmError(f"{p}: judge template not found")
    text = read_text(p)
    missing = [ph for ph in placeholders if ph not in text]
    if missing:
        raise SrlmError(f"{p}: judge template lacks placeholder(s) {', '.join(missing)}")
    for lineno, line in enumerate(text.splitlines(), 1):
        unknown = [m for m in re.findall(r"\{[A-Za-z_]+\}", line) if m not in placeholders]
        if unknown:
            raise SrlmError(
                f"{p}:{lineno}: unknown placeholder {unknown[0]} (this template takes {', '.join(placeholders)}; "
                "it would reach the model as literal text)"
            )
    return text


def fill(template: str, **fields: str) -> str:
    """Fill the template's placeholders in one pass over the template: a value is pasted as it is, so text in it
    that looks like a placeholder (`{response}` in a user's question, braces in code) is never filled."""
    if not fields:
        return template
    placeholder = re.compile("|".join(re.escape("{" + name + "}") for name in fields))
    return placeholder.sub(lambda m: fields[m.group(0)[1:-1]], template)
