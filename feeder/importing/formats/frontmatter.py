"""Front matter: a YAML (``---``) or TOML (``+++``) block of article fields at the top of a file.

Dates are left as text (YAML would otherwise turn them into naive datetimes
silently) and read by the same rules as every other date.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from typing import Any

from feeder.errors import InputError
from feeder.importing.formats._draft import FIELDS, check_fields

__all__ = ["split"]

_FENCES = {"---": ("---", "YAML"), "+++": ("+++", "TOML")}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


@cache
def _loader() -> Any:
    """Safe YAML that keeps timestamps as strings (PyYAML is loaded on first use)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def split(text: str, origin: str) -> tuple[dict[str, Any], str, int]:
    """``(fields, body, first line of the body)``; no front matter gives ``({}, text, 1)``.

    The fields are checked: known keys only, each of the right type.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n").rstrip() not in _FENCES:
        return {}, text, 1
    fence, language = _FENCES[lines[0].rstrip("\r\n").rstrip()]
    closing = {fence, "..."} if language == "YAML" else {fence}
    for index in range(1, len(lines)):
        if lines[index].rstrip("\r\n").rstrip() in closing:
            break
    else:
        raise InputError(
            f"{origin}:1: front matter: no closing '{fence}' line; end the front matter "
            f"with a line '{fence}'"
        )
    source = "".join(lines[1:index])
    raw = _load_yaml(source, origin) if language == "YAML" else _load_toml(source, origin)
    body = "".join(lines[index + 1 :])
    return check_fields(raw, f"{origin}: front matter", FIELDS), body, index + 2


def _load_yaml(source: str, origin: str) -> Any:
    import yaml

    try:
        data = yaml.load(source, Loader=_loader())  # a SafeLoader subclass: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(
            f"{origin}{line}: front matter: not valid YAML ({problem}); fix the syntax, "
            "e.g. 'title: \"My post\"'"
        ) from None
    return {} if data is None else data


def _load_toml(source: str, origin: str) -> Any:
    try:
        return tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = re.search(r"\(at line (\d+), column \d+\)", message)
        line = f":{int(found.group(1)) + 1}" if found else ""
        problem = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise InputError(
            f"{origin}{line}: front matter: not valid TOML ({problem}); fix the syntax, "
            "e.g. 'title = \"My post\"'"
        ) from None
