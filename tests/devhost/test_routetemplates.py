"""Route templates as ASP.NET Core parses and matches them for the Functions host, without a
server: the template syntax and its error messages (Microsoft.AspNetCore.Routing
RoutePatternParser, Resources.resx), the default inline constraints (RouteOptions'
ConstraintMap: IntRouteConstraint, AlphaRouteConstraint, GuidRouteConstraint, LengthRouteConstraint,
MinRouteConstraint, RangeRouteConstraint, ...), RoutePatternMatcher (literals ignoring case, one
trailing slash, empty segments, defaults, optional and catch-all parameters), and the order
Azure/azure-webjobs-sdk-extensions src/WebJobs.Extensions.Http/Routing/WebJobsRouteBuilder.cs
(RouteComparison) gives the routes. The app-level behaviour is in test_http_routes.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.loader import LoadError, read_function_json
from devhost.routetemplates import RouteTemplate, RouteTemplateError, precedence_order


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("Hello", "hello", {}),
        ("Hello", "HELLO/", {}),
        ("Hello", "hello//", None),
        ("Hello", "hello/x", None),
        ("items/{id?}", "items", {"id": None}),
        ("items/{id?}", "items/7", {"id": "7"}),
        ("items/{id=5}", "items", {"id": "5"}),
        ("items/{id:int=5}", "items/x", None),
        ("a/{x}/b", "a/%7E%20/b", {"x": "~ "}),  # percent-decoded
        ("a/{x}", "a/1%2F2", {"x": "1%2F2"}),  # an encoded '/' stays encoded (Kestrel)
        ("files/{*rest}", "files/x/y/z.txt", {"rest": "x/y/z.txt"}),
        ("files/{**rest}", "files", {"rest": None}),
        ("files/{*rest=index}", "files", {"rest": "index"}),
        ("{name}.{ext}", "a.b.c", {"name": "a.b", "ext": "c"}),
        ("{name}.{ext?}", "readme", {"name": "readme", "ext": None}),
        ("v{major}-{minor}", "V1-2", {"major": "1", "minor": "2"}),
        ("v{major}-{minor}", "x1-2", None),
    ],
)
def test_matching(template: str, path: str, values: dict[str, str | None] | None) -> None:
    assert RouteTemplate(template).match(path) == values


@pytest.mark.parametrize(
    ("constraint", "good", "bad"),
    [
        ("int", ["0", "-12", "+3", "2147483647"], ["2147483648", "1.5", "x", ""]),
        ("long", ["9223372036854775807"], ["9223372036854775808"]),
        ("bool", ["true", "False"], ["yes", "1"]),
        ("alpha", ["abc", "ABC"], ["ab1", "é"]),
        ("guid", ["3f2504e0-4f89-11d3-9a0c-0305e82c3301", "3f2504e04f8911d39a0c0305e82c3301",
                  "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}"], ["3f2504e0", "zz"]),
        ("decimal", ["1.5", "-2", "1,000.25"], ["1e5", "abc"]),
        ("double", ["1.5e3", "-Infinity", "NaN"], ["1.5x"]),
        ("datetime", ["2024-01-31", "2024-01-31T10:00:00Z", "2024-01-31 10:00"],
         ["2024-13-01", "x"]),
        ("length(3)", ["abc"], ["ab", "abcd"]),
        ("length(2,3)", ["ab", "abc"], ["a", "abcd"]),
        ("minlength(2)", ["ab"], ["a"]),
        ("maxlength(2)", ["ab"], ["abc"]),
        ("min(10)", ["10", "11"], ["9", "x"]),
        ("max(10)", ["10", "-1"], ["11"]),
        ("range(1,3)", ["1", "3"], ["0", "4"]),
        ("regex(^[a-z]{{2}}\\d$)", ["ab1", "AB1"], ["ab12"]),
        ("file", ["a.txt", "x.y.z"], ["a", "a."]),
        ("nonfile", ["a"], ["a.txt"]),
    ],
)  # fmt: skip
def test_inline_constraints(constraint: str, good: list[str], bad: list[str]) -> None:
    template = RouteTemplate(f"c/{{v:{constraint}}}")
    for value in good:
        assert template.match(f"c/{value}") == {"v": value}, value
    for value in bad:
        assert template.match(f"c/{value}") is None, value


def test_optional_parameter_with_a_constraint_is_checked_only_when_present() -> None:
    template = RouteTemplate("items/{id:int?}")
    assert template.match("items") == {"id": None}
    assert template.match("items/x") is None


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("a/{id:nope}", "The constraint reference 'nope' could not be resolved to a type"),
        ("a/{id", "There is an incomplete parameter in the route template"),
        ("a/id}", "There is an incomplete parameter in the route template"),
        ("a/{x}{y}", "A path segment cannot contain two consecutive parameters"),
        ("{*rest}/more", "A catch-all parameter can only appear as the last segment"),
        ("x{*rest}", "cannot contain a catch-all parameter"),
        ("{id?=1}", "An optional parameter cannot have default value."),
        ("{id}/{ID}", "The route parameter name 'ID' appears more than one time"),
        ("a//b", "The route template separator character '/' cannot appear consecutively"),
        ("a/{}", "The route parameter name '' is invalid"),
        ("a/{x:length(a)}", "Could not find a constructor for constraint 'length'"),
    ],
)
def test_templates_the_host_refuses(template: str, message: str) -> None:
    with pytest.raises(RouteTemplateError, match=message.replace("(", r"\(")):
        RouteTemplate(template)


def test_a_bad_route_is_refused_when_the_app_loads(tmp_path: Path) -> None:
    folder = tmp_path / "Broken"
    folder.mkdir()
    (folder / "function.json").write_text(
        '{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req",'
        ' "route": "x/{id:integer}"}]}'
    )
    with pytest.raises(LoadError, match=r"function 'Broken': route 'x/\{id:integer\}': The "):
        read_function_json(folder)


def test_precedence_is_webjobs_route_builders() -> None:
    # RouteComparison: literal segment before parameter, more inline constraints first,
    # literals ordinal-ignore-case, a longer template before its prefix.
    names = ["{any}", "{n:int}", "items", "items/{id}", "items/new", "Apples", "{n:int:min(1)}"]
    ordered = precedence_order([(RouteTemplate(n), n) for n in names])
    assert [n for _, n in ordered] == [
        "Apples", "items/new", "items/{id}", "items", "{n:int:min(1)}", "{n:int}", "{any}",
    ]  # fmt: skip
