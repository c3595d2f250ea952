"""httpTrigger routes as ASP.NET Core route templates, matched the way the Functions host does.

The host hands every httpTrigger's `route` (default: the function's name) to
WebJobsRouteBuilder (Azure/azure-webjobs-sdk-extensions, src/WebJobs.Extensions.Http/Routing/
WebJobsRouteBuilder.cs), which builds ASP.NET Core `Route`s: the template syntax of
RoutePatternParser (literals, `{name}`, `{name?}`, `{name=default}`, `{*rest}`, inline
constraints `{id:int}` resolved by the default RouteOptions.ConstraintMap), matched by
RoutePatternMatcher (literals ignoring case, one trailing slash ignored, empty segments never
match). A value failing a constraint means the route does not match: the request goes on to the
next route and, when none matches, gets 404 (the host's routing never answers 405). Templates
are parsed when the app loads, so a bad one is one line at start rather than a 404 later.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

Check = Callable[[str], bool]
T = TypeVar("T")

# Microsoft.AspNetCore.Routing Resources.resx, the messages RoutePatternParser throws.
CONSECUTIVE_SEPARATORS = (
    "The route template separator character '/' cannot appear consecutively. It must be "
    "separated by either a parameter or a literal value."
)
INCOMPLETE_PARAMETER = (
    "There is an incomplete parameter in the route template. Check that each '{' character "
    "has a matching '}' character."
)
CONSECUTIVE_PARAMETERS = (
    "A path segment cannot contain two consecutive parameters. They must be separated by a '/' "
    "or by a literal string."
)
CATCH_ALL_NOT_LAST = (
    "A catch-all parameter can only appear as the last segment of the route template."
)
CATCH_ALL_IN_COMPLEX = (
    "A path segment that contains more than one section, such as a literal section or a "
    "parameter, cannot contain a catch-all parameter."
)
OPTIONAL_WITH_DEFAULT = "An optional parameter cannot have default value."


class RouteTemplateError(ValueError):
    """A template the host refuses when it maps the function's route."""


def _int_range(low: int, high: int) -> Check:
    # int.TryParse / long.TryParse with NumberStyles.Integer: surrounding white space, a sign.
    def check(value: str) -> bool:
        if not re.fullmatch(r"[\t-\r ]*[+-]?\d+[\t-\r ]*", value, re.ASCII):
            return False
        return low <= int(value) <= high

    return check


_NUMBER = r"[\t-\r ]*[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)"  # NumberStyles.Number (thousands too)


def _decimal(value: str) -> bool:
    if not re.fullmatch(_NUMBER + r"[\t-\r ]*", value, re.ASCII):
        return False
    return abs(float(value.replace(",", ""))) < 7.9228162514264337593543950335e28


def _double(value: str) -> bool:
    # NumberStyles.Float | AllowThousands; .NET Core 3.0+ reads Infinity/NaN in any case.
    text = value.strip("\t\n\v\f\r ")
    if re.fullmatch(r"[+-]?(?:infinity|∞|nan)", text, re.IGNORECASE):
        return True
    return bool(re.fullmatch(_NUMBER + r"(?:[eE][+-]?\d+)?[\t-\r ]*", value, re.ASCII))


def _bool(value: str) -> bool:
    return value.strip().lower() in ("true", "false")  # bool.TryParse


def _guid(value: str) -> bool:
    # Guid.TryParse: the N, D, B and P formats (32 hex digits, hyphenated, in {} or ()).
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]{32}", text):
        return True
    body = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    return bool(re.fullmatch(rf"{body}|\{{{body}\}}|\({body}\)", text)) and bool(
        uuid.UUID(text.strip("{}()"))
    )


def _datetime(value: str) -> bool:
    # DateTime.TryParse with the invariant culture: ISO 8601 and the M/d/yyyy forms.
    text = value.strip()
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        pass
    for fmt in ("%m/%d/%Y", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%Y/%m/%d"):
        try:
            datetime.strptime(text, fmt)
            return True
        except ValueError:
            continue
    return False


def _file(value: str) -> bool:
    # FileNameRouteConstraint: the last segment has a '.' with something after it.
    last = value.rsplit("/", 1)[-1]
    dot = last.rfind(".")
    return dot != -1 and dot < len(last) - 1


def _args(name: str, raw: str | None, count: int) -> list[int]:
    parts = [] if raw is None else [p.strip() for p in raw.split(",")]
    if len(parts) != count or not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise RouteTemplateError(
            f"Could not find a constructor for constraint '{name}' with {len(parts)} "
            f"parameter(s) '{raw or ''}' (it takes {count} integer(s))"
        )
    return [int(p) for p in parts]


def _long_in(low: int, high: int) -> Check:
    is_long = _int_range(-(2**63), 2**63 - 1)
    return lambda v: is_long(v) and low <= int(v) <= high


def make_constraint(name: str, raw: str | None) -> Check:
    """One inline constraint of RouteOptions' default ConstraintMap (names ignore case)."""
    key = name.lower()
    simple: dict[str, Check] = {
        "int": _int_range(-(2**31), 2**31 - 1),
        "long": _int_range(-(2**63), 2**63 - 1),
        "bool": _bool,
        "datetime": _datetime,
        "decimal": _decimal,
        "double": _double,
        "float": _double,
        "guid": _guid,
        "alpha": lambda v: re.fullmatch(r"[a-z]*", v, re.IGNORECASE) is not None,
        "required": lambda v: v != "",
        "file": _file,
        "nonfile": lambda v: not _file(v),
    }
    if key in simple:
        if raw is not None:
            raise RouteTemplateError(f"The constraint '{name}' takes no arguments")
        return simple[key]
    if key == "regex":
        try:  # RegexRouteConstraint: IsMatch, ignoring case (anchor with ^...$ as in .NET)
            pattern = re.compile(raw or "", re.IGNORECASE)
        except re.error as exc:
            raise RouteTemplateError(f"regex({raw}) is not a valid expression: {exc}") from exc
        return lambda v: pattern.search(v) is not None
    if key in ("length", "minlength", "maxlength", "min", "max", "range"):
        count = 2 if key == "range" or (key == "length" and raw and "," in raw) else 1
        a = _args(name, raw, count)
        checks: dict[str, Check] = {
            "length": (lambda v: a[0] <= len(v) <= a[-1]),
            "minlength": lambda v: len(v) >= a[0],
            "maxlength": lambda v: len(v) <= a[0],
            "min": _long_in(a[0], 2**63 - 1),
            "max": _long_in(-(2**63), a[0]),
            "range": _long_in(a[0], a[-1]),
        }
        return checks[key]
    raise RouteTemplateError(
        f"The constraint reference '{name}' could not be resolved to a type. Register the "
        "constraint type with 'Microsoft.AspNetCore.Routing.RouteOptions.ConstraintMap'."
    )


@dataclass(frozen=True)
class Parameter:
    name: str
    constraints: tuple[str, ...]  # as written, for ordering and messages
    checks: tuple[Check, ...]
    optional: bool = False
    default: str | None = None
    catch_all: bool = False


Part = str | Parameter  # a literal, or a parameter


def _split_outside_parens(text: str, sep: str) -> list[str]:
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def parse_parameter(text: str) -> Parameter:
    """`{...}`'s inside: `*`/`**` catch-all, name, `:constraint(args)`..., `?` or `=default`."""
    catch_all = text.startswith("*")
    body = text.lstrip("*") if catch_all else text
    head, *rest = _split_outside_parens(body, "=")
    default = "=".join(rest) if rest else None
    optional = head.endswith("?") and default is None
    if optional:
        head = head[:-1]
    elif default is not None and head.endswith("?"):
        raise RouteTemplateError(OPTIONAL_WITH_DEFAULT)
    name, *constraints = _split_outside_parens(head, ":")
    if not name or any(c in name for c in "{}/?*"):
        raise RouteTemplateError(
            f"The route parameter name '{name}' is invalid. Route parameter names must be "
            "non-empty and cannot contain these characters: '{', '}', '/'. The '?' character "
            "marks a parameter as optional, and can occur only at the end of the parameter. "
            "The '*' character marks a parameter as catch-all, and can occur only at the start "
            "of the parameter."
        )
    checks = []
    for c in constraints:
        m = re.fullmatch(r"([^()]*)(?:\((.*)\))?", c, re.DOTALL)
        assert m is not None  # the pattern matches any text without parentheses first
        checks.append(make_constraint(m.group(1), m.group(2)))
    return Parameter(name, tuple(constraints), tuple(checks), optional, default, catch_all)


def _parse_segment(text: str) -> list[Part]:
    parts: list[Part] = []
    literal, i = "", 0
    while i < len(text):
        ch = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            literal, i = literal + ch, i + 2
        elif ch == "{":
            j, inner = i + 1, ""
            while j < len(text) and not (text[j] == "}" and not text.startswith("}}", j)):
                doubled = text.startswith(("{{", "}}"), j)  # an escaped brace in a regex
                inner, j = inner + text[j], j + (2 if doubled else 1)
            if j >= len(text):
                raise RouteTemplateError(INCOMPLETE_PARAMETER)
            if literal:
                parts.append(literal)
            elif parts:
                raise RouteTemplateError(CONSECUTIVE_PARAMETERS)
            parts.append(parse_parameter(inner))
            literal, i = "", j + 1
        elif ch == "}":
            raise RouteTemplateError(INCOMPLETE_PARAMETER)
        else:
            literal, i = literal + ch, i + 1
    if literal:
        parts.append(literal)
    return parts


def _segment_regex(parts: list[Part], drop_last: bool) -> re.Pattern[str]:
    """A complex segment (`{name}.{ext}`): literals ignore case; parameters take what lies
    between them, the earlier ones as much as they can, as RoutePatternMatcher's right-to-left
    search for each literal's last occurrence does."""
    used = parts[:-2] if drop_last else parts
    body = "".join(re.escape(p) if isinstance(p, str) else "(.+)" for p in used)
    return re.compile(body, re.IGNORECASE | re.DOTALL)


def _decode(raw: str) -> str:
    """A path as Kestrel gives it to routing: percent-decoded, except an encoded '/'."""
    return urllib.parse.unquote(re.sub(r"%2[fF]", "%252F", raw))


class RouteTemplate:
    """One parsed template; `match` gives the route values (None for an absent optional)."""

    def __init__(self, text: str) -> None:
        self.text = text
        stripped = text.strip("/")  # as devhost always has: "/items" and "items" are one route
        if "//" in stripped:
            raise RouteTemplateError(CONSECUTIVE_SEPARATORS)
        self.segments = [_parse_segment(s) for s in stripped.split("/")] if stripped else []
        names: set[str] = set()
        for n, seg in enumerate(self.segments):
            for p in seg:
                if not isinstance(p, Parameter):
                    continue
                if p.name.lower() in names:
                    raise RouteTemplateError(
                        f"The route parameter name '{p.name}' appears more than one time in "
                        "the route template."
                    )
                names.add(p.name.lower())
                if p.catch_all and len(seg) > 1:
                    raise RouteTemplateError(CATCH_ALL_IN_COMPLEX)
                if p.catch_all and n != len(self.segments) - 1:
                    raise RouteTemplateError(CATCH_ALL_NOT_LAST)
        self.parameters = [p for seg in self.segments for p in seg if isinstance(p, Parameter)]

    def match(self, raw_path: str) -> dict[str, str | None] | None:
        """Route values for a request path relative to the prefix (percent-encoded), or None."""
        path = raw_path[:-1] if raw_path.endswith("/") else raw_path  # PathTokenizer
        tokens = path.split("/") if path else []
        values: dict[str, str | None] = {}
        for i, seg in enumerate(self.segments):
            first = seg[0]
            if isinstance(first, Parameter) and first.catch_all:
                rest = raw_path.split("/", i)[i] if len(tokens) > i else ""
                values[first.name] = _decode(rest) if rest else first.default
                break
            if i >= len(tokens):
                if len(seg) > 1 or isinstance(first, str):
                    return None
                if not first.optional and first.default is None:
                    return None
                values[first.name] = first.default
                continue
            token = _decode(tokens[i])
            if token == "" or not self._match_segment(seg, token, values):
                return None
        else:
            if len(tokens) > len(self.segments):
                return None
        for p in self.parameters:
            value = values.get(p.name)
            if value is not None and not all(check(value) for check in p.checks):
                return None
        return values

    @staticmethod
    def _match_segment(seg: list[Part], token: str, values: dict[str, str | None]) -> bool:
        if len(seg) == 1:
            only = seg[0]
            if isinstance(only, str):
                return only.lower() == token.lower()
            values[only.name] = token
            return True
        params = [p for p in seg if isinstance(p, Parameter)]
        m = _segment_regex(seg, drop_last=False).fullmatch(token)
        last = seg[-1]
        if m is None and isinstance(last, Parameter) and last.optional and seg[-2] == ".":
            m = _segment_regex(seg, drop_last=True).fullmatch(token)
            if m is not None:
                values[last.name] = None
                params = params[:-1]
        if m is None:
            return False
        values.update(zip((p.name for p in params), m.groups(), strict=True))
        return True


def _route_comparison(x: RouteTemplate, y: RouteTemplate) -> int:
    """WebJobsRouteBuilder.RouteComparison: literal segments before parameters, more inline
    constraints first, literals in ordinal-ignore-case order, longer templates first."""
    for i, xseg in enumerate(x.segments):
        if len(y.segments) <= i:
            return -1
        xs, ys = xseg[0], y.segments[i][0]
        if isinstance(xs, str) and isinstance(ys, Parameter):
            return -1
        if isinstance(xs, Parameter) and isinstance(ys, str):
            return 1
        if isinstance(xs, Parameter) and isinstance(ys, Parameter):
            if len(xs.constraints) != len(ys.constraints):
                return -1 if len(xs.constraints) > len(ys.constraints) else 1
        elif isinstance(xs, str) and isinstance(ys, str) and xs.upper() != ys.upper():
            return -1 if xs.upper() < ys.upper() else 1
    return 1 if len(y.segments) > len(x.segments) else 0


def precedence_order(routes: list[tuple[RouteTemplate, T]]) -> list[tuple[RouteTemplate, T]]:
    """The order WebJobsRouteBuilder.Build puts the routes in; the first that matches wins."""

    def compare(a: tuple[RouteTemplate, T], b: tuple[RouteTemplate, T]) -> int:
        return _route_comparison(a[0], b[0])

    return sorted(routes, key=functools.cmp_to_key(compare))
