"""Pure: the JSONPaths our printer columns use, evaluated as the API server's table convertor does
(the first result, or nothing): `.a.b`, `.a[0].b` and `.a[?(@.type=="Ready")].status`. Anything else
is refused by name rather than guessed at."""

from __future__ import annotations

import re
from typing import Any

FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")
INDEX = re.compile(r"\[(\d+)\]")
FILTER = re.compile(r'\[\?\(@\.([A-Za-z_][A-Za-z0-9_]*)=="([^"]*)"\)\]')


class JsonPathError(ValueError):
    pass


def first_result(path: str, obj: Any) -> Any:
    """The value at `path` in `obj`, None when there is none."""
    values = [obj]
    rest = path
    while rest:
        if m := FIELD.match(rest):
            values = [v[m.group(1)] for v in values if isinstance(v, dict) and m.group(1) in v]
        elif m := INDEX.match(rest):
            i = int(m.group(1))
            values = [v[i] for v in values if isinstance(v, list) and i < len(v)]
        elif m := FILTER.match(rest):
            key, wanted = m.groups()
            values = [
                item
                for v in values
                if isinstance(v, list)
                for item in v
                if isinstance(item, dict) and item.get(key) == wanted
            ]
        else:
            raise JsonPathError(
                f"cannot evaluate the JSONPath {path!r} at {rest!r}: only .field, [N] and "
                '[?(@.field=="value")] are understood (devtools/doc_facts/json_path.py)'
            )
        rest = rest[m.end() :]
    return values[0] if values else None
