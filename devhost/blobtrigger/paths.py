"""Blob trigger path patterns: "container/{name}.png" -> container + a name matcher.

Placeholders match greedily across '/', like the real host (`uploads/{name}` gives
name="cats/1.png" for the blob cats/1.png).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_CONTAINER = re.compile(r"^(\$root|\$logs|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$")


@dataclass(frozen=True)
class BlobPath:
    container: str
    pattern: str
    regex: re.Pattern[str]

    def match(self, blob_name: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(blob_name)
        return None if m is None else m.groupdict()


def compile_pattern(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    seen: set[str] = set()
    for m in _PLACEHOLDER.finditer(pattern):
        parts.append(re.escape(pattern[pos : m.start()]))
        key = m.group(1)
        if key in seen:
            parts.append(f"(?P={key})")
        else:
            seen.add(key)
            parts.append(f"(?P<{key}>.+)")
        pos = m.end()
    parts.append(re.escape(pattern[pos:]))
    return re.compile("".join(parts), re.DOTALL)


def parse_blob_path(path: str) -> BlobPath:
    """Split a binding path into container and blob pattern; ValueError names what is wrong."""
    if not path or "/" not in path.strip("/"):
        container, pattern = path.strip("/"), "{name}"
    else:
        container, pattern = path.strip("/").split("/", 1)
    if "{" in container:
        raise ValueError(f"blob path '{path}': the container name cannot contain placeholders")
    if not _CONTAINER.match(container):
        raise ValueError(f"blob path '{path}': '{container}' is not a valid container name")
    if pattern.count("{") != pattern.count("}"):
        raise ValueError(f"blob path '{path}': unbalanced braces")
    return BlobPath(container=container, pattern=pattern, regex=compile_pattern(pattern))
