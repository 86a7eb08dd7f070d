"""The stack components' own metrics, as declared in tests/config/data/self_metrics.yaml, and the
checks that hold rules, rule tests, dashboards and docs to that declaration.

Two readers find the metric names a file uses:

- `promql_names` lexes a PromQL expression and returns the metric names it selects: bare
  identifiers that are not functions, keywords, label names (inside `{...}` or a `by (...)`,
  `on (...)`... list), strings or durations; plus `{__name__="..."}` names and `__name__=~`
  patterns. A name with a colon is a recorded name (a recording rule), never a self-metric.
- `text_names` scans prose and raw files (Markdown, YAML comments, panel descriptions) for words
  with a component prefix, expanding `{a,b}` alternatives and reading a trailing `*` as "any
  name that starts with this".

Each check returns a list of problems (empty = fine) so the tests can run it on the real files
and on broken samples alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DECLARATION = ROOT / "tests" / "config" / "data" / "self_metrics.yaml"

TYPES = frozenset({"counter", "gauge", "histogram"})
# A classic histogram family is exposed as these three series only.
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
# "v1.2.3" or "3.7.8" right after the repository in a source citation.
_TAG = re.compile(r"^[\w.-]+/[\w.-]+ v?\d+\.\d+\.\d+\b")

Problems = list[str]


# --- the declaration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Declaration:
    prefixes: Mapping[str, str]  # series-name prefix -> component
    not_metrics: frozenset[str]
    metrics: Mapping[str, tuple[str, str]]  # declared name -> (component, type)

    @property
    def series(self) -> frozenset[str]:
        """Every exposed series name: counters and gauges as declared, histograms expanded."""
        names: set[str] = set()
        for name, (_, kind) in self.metrics.items():
            if kind == "histogram":
                names.update(name + suffix for suffix in HISTOGRAM_SERIES)
            else:
                names.add(name)
        return frozenset(names)

    def component_of(self, name: str) -> str | None:
        matches = [prefix for prefix in self.prefixes if name.startswith(prefix)]
        return self.prefixes[max(matches, key=len)] if matches else None


def load_yaml(path: Path = DECLARATION) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def declaration(doc: Mapping[str, Any] | None = None) -> Declaration:
    doc = load_yaml() if doc is None else doc
    metrics: dict[str, tuple[str, str]] = {}
    for component, spec in (doc.get("components") or {}).items():
        for group in spec.get("groups") or []:
            for name, kind in (group.get("metrics") or {}).items():
                metrics[name] = (component, kind)
    return Declaration(
        prefixes=dict(doc.get("prefixes") or {}),
        not_metrics=frozenset(doc.get("not_metrics") or {}),
        metrics=metrics,
    )


def declaration_problems(doc: Mapping[str, Any]) -> Problems:
    """Every component has a pinned version and an exposition note; every group cites an
    upstream repository at a tag; every name has a known type, carries its component's prefix
    and is declared once."""
    problems: Problems = []
    prefixes: Mapping[str, str] = doc.get("prefixes") or {}
    components: Mapping[str, Any] = doc.get("components") or {}
    for prefix, component in prefixes.items():
        if component not in components:
            problems.append(f"prefix {prefix}: component {component!r} is not declared")
    for component in components:
        if component not in prefixes.values():
            problems.append(f"{component}: no prefix maps to it")
    seen: dict[str, str] = {}
    for component, spec in components.items():
        for key in ("pinned", "exposition"):
            if not str(spec.get(key) or "").strip():
                problems.append(f"{component}: no `{key}`")
        own = [p for p, c in prefixes.items() if c == component]
        for index, group in enumerate(spec.get("groups") or []):
            where = f"{component} group {index}"
            if not _TAG.match(str(group.get("source") or "")):
                problems.append(f"{where}: `source` does not start with <owner/repo> <tag>")
            for name, kind in (group.get("metrics") or {}).items():
                if kind not in TYPES:
                    problems.append(f"{name}: type {kind!r} is not one of {sorted(TYPES)}")
                if not any(name.startswith(p) for p in own):
                    problems.append(f"{name}: does not start with a prefix of {component}")
                if name in seen:
                    problems.append(f"{name}: declared twice ({seen[name]} and {component})")
                seen[name] = component
    for name in doc.get("not_metrics") or {}:
        if name in seen:
            problems.append(f"{name}: both a declared metric and a `not_metrics` word")
    return problems


# --- PromQL -----------------------------------------------------------------------------------


class PromQLSyntaxError(ValueError):
    pass


_PROMQL_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<comment>\#[^\n]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
    | (?P<range>\[[^\[\]]*\])
    | (?P<number>0[xX][0-9a-fA-F]+
        |(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:(?:ms|[smhdwy])(?:\d+(?:ms|[smhdwy]))*)?)
    | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
    | (?P<op>=~|!~|!=|==|<=|>=|[-+*/%^<>=(){},@])
    """,
    re.VERBOSE,
)
# Binary operators, modifiers and literals that lex as identifiers.
_KEYWORDS = frozenset(
    {"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan"}
    | {"by", "without", "on", "ignoring", "group_left", "group_right"}
)
# Keywords that may be followed by a parenthesised list of label names.
_LABEL_LIST = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


@dataclass(frozen=True)
class Names:
    metrics: frozenset[str]  # selected by name (bare, quoted, or __name__="...")
    patterns: frozenset[str]  # __name__=~"..." regular expressions


def _tokens(expr: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(expr):
        match = _PROMQL_TOKEN.match(expr, position)
        if match is None:
            raise PromQLSyntaxError(f"unexpected {expr[position : position + 20]!r} in {expr!r}")
        kind = match.lastgroup or ""
        if kind not in {"space", "comment"}:
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _unquote(token: str) -> str:
    body = token[1:-1]
    if token.startswith("`"):
        return body
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), body)


def _closing(tokens: list[tuple[str, str]], start: int, close: str, expr: str) -> int:
    for index in range(start, len(tokens)):
        if tokens[index] == ("op", close):
            return index
    raise PromQLSyntaxError(f"no closing {close!r} in {expr!r}")


def promql_names(expr: str) -> Names:
    """The metric names a PromQL expression selects (see the module docstring)."""
    tokens = _tokens(expr)
    metrics: set[str] = set()
    patterns: set[str] = set()
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if (kind, text) == ("op", "{"):
            end = _closing(tokens, index + 1, "}", expr)
            _selector(tokens[index + 1 : end], metrics, patterns, expr)
            index = end + 1
            continue
        if kind == "ident":
            word = text.lower()
            if word in _LABEL_LIST and following == ("op", "("):
                index = _closing(tokens, index + 2, ")", expr) + 1
                continue
            aggregation_clause = following[0] == "ident" and following[1].lower() in {
                "by",
                "without",
            }
            if word in _KEYWORDS or following == ("op", "(") or aggregation_clause:
                index += 1  # a keyword, a function, or an aggregation (`sum by (...) (...)`)
                continue
            metrics.add(text)
        index += 1
    return Names(frozenset(metrics), frozenset(patterns))


def _selector(
    tokens: list[tuple[str, str]], metrics: set[str], patterns: set[str], expr: str
) -> None:
    """The inside of `{...}`: label matchers, or a quoted metric name (Prometheus 3 UTF-8)."""
    index = 0
    while index < len(tokens):
        kind, text = tokens[index]
        if (kind, text) == ("op", ","):
            index += 1
            continue
        following = tokens[index + 1] if index + 1 < len(tokens) else ("", "")
        if kind in {"ident", "string"} and following[0] == "op" and following[1] in _MATCH_OPS:
            if index + 2 >= len(tokens) or tokens[index + 2][0] != "string":
                raise PromQLSyntaxError(f"matcher without a string value in {expr!r}")
            label = text if kind == "ident" else _unquote(text)
            value = _unquote(tokens[index + 2][1])
            if label == "__name__" and following[1] == "=":
                metrics.add(value)
            elif label == "__name__" and following[1] == "=~":
                patterns.add(value)
            index += 3
        elif kind == "string":
            metrics.add(_unquote(text))
            index += 1
        else:
            raise PromQLSyntaxError(f"unexpected {text!r} in a selector of {expr!r}")


def name_problems(name: str, decl: Declaration, recorded: Iterable[str]) -> Problems:
    """A recorded name (with a colon) must be recorded by a rule; a name with a component
    prefix must be declared. Other names (the apps' metrics, `up`) are not this check's."""
    if ":" in name:
        return [] if name in set(recorded) else [f"{name}: no recording rule records it"]
    component = decl.component_of(name)
    if component is None or name in decl.series or name in decl.not_metrics:
        return []
    hint = ""
    for other in (name.removesuffix("_total"), f"{name}_total"):
        if other != name and other in decl.series:
            hint = f"; {component} exposes {other}"
    return [f"{name}: {component} exposes no such series at the pinned version{hint}"]


def promql_problems(expr: str, decl: Declaration, recorded: Iterable[str]) -> Problems:
    recorded = set(recorded)
    try:
        names = promql_names(expr)
    except PromQLSyntaxError as error:
        return [str(error)]
    problems = [p for name in sorted(names.metrics) for p in name_problems(name, decl, recorded)]
    known = decl.series | recorded
    for pattern in sorted(names.patterns):
        try:
            regex = re.compile(pattern)
        except re.error as error:
            problems.append(f"__name__=~{pattern!r} is not a regular expression: {error}")
            continue
        if not any(regex.fullmatch(name) for name in known):
            problems.append(
                f"__name__=~{pattern!r} matches no declared self-metric and no recording rule"
            )
    return problems


# --- prose and raw files ----------------------------------------------------------------------

_WORD = re.compile(
    r"(?<![A-Za-z0-9_:])[A-Za-z_:][A-Za-z0-9_:]*(?:\{[A-Za-z0-9_,]+\}[A-Za-z0-9_:]*)*\*?"
)
_ALTERNATIVES = re.compile(r"\{([A-Za-z0-9_,]+)\}")


def _expand(word: str) -> list[str]:
    """`a_{b,c}_d` -> [`a_b_d`, `a_c_d`]."""
    parts = _ALTERNATIVES.split(word)
    choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
    return ["".join(combo) for combo in product(*choices)]


# In prose a recorded name is recognised by the level:metric:operations convention (two colons),
# so "Query:", "localhost:9090" or "http://" are not taken for one; `metric` is the group.
_RECORDED_WORD = re.compile(
    r"^(?:[A-Za-z_][A-Za-z0-9_]*)?:(?P<metric>[A-Za-z_][A-Za-z0-9_]*):[A-Za-z0-9_]+$"
)


def text_names(text: str, decl: Declaration) -> set[str]:
    """Words of `text` that name a self-metric (a component prefix) or a recorded name over one
    (`job_receiver:otelcol_receiver_accepted:rate5m`), alternatives expanded; a trailing `*`
    (any name starting so) is kept. Recorded names over the apps' metrics are not this
    module's: tests/config/test_rules.py and test_dashboards.py hold those."""
    found = set()
    for match in _WORD.finditer(text):
        for word in _expand(match.group()):
            bare = word.rstrip("*")
            recorded = _RECORDED_WORD.match(bare)
            if recorded:
                if decl.component_of(recorded.group("metric")) is not None:
                    found.add(word)
            elif (
                ":" not in bare
                and decl.component_of(bare) is not None
                and bare not in decl.not_metrics
                and bare not in decl.prefixes  # "the `otelcol_` prefix" names no series
            ):
                found.add(word)
    return found


def text_problems(text: str, decl: Declaration, recorded: Iterable[str]) -> Problems:
    recorded = set(recorded)
    problems = []
    for word in sorted(text_names(text, decl)):
        if not word.endswith("*"):
            problems += name_problems(word, decl, recorded)
            continue
        stem = word.rstrip("*")
        known = recorded if ":" in stem else decl.series
        if not any(name.startswith(stem) for name in known):
            problems.append(f"{word}: matches no declared self-metric and no recording rule")
    return problems


# --- the files that use the names -------------------------------------------------------------


def rule_expressions(rule_docs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(rule name, expr) for every recording and alerting rule."""
    for doc in rule_docs:
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                yield str(rule.get("record") or rule.get("alert")), str(rule.get("expr", ""))


def rule_test_selectors(test_doc: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every input series, tested expression and expected sample of a
    promtool rule test file."""
    for number, test in enumerate(test_doc.get("tests") or []):
        for series in test.get("input_series") or []:
            yield f"test {number} input_series", str(series.get("series", ""))
        for case in test.get("promql_expr_test") or []:
            yield f"test {number} promql_expr_test", str(case.get("expr", ""))
            for sample in case.get("exp_samples") or []:
                if sample.get("labels"):
                    yield f"test {number} exp_samples", str(sample["labels"])


def rule_test_problems(
    test_doc: Mapping[str, Any], decl: Declaration, recorded: Iterable[str]
) -> Problems:
    recorded = set(recorded)
    return [
        f"{where}: {problem}"
        for where, selector in rule_test_selectors(test_doc)
        for problem in promql_problems(selector, decl, recorded)
    ]


_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*[\w.]+\s*\)\s*$", re.DOTALL)
_QUERY_RESULT = re.compile(r"^\s*query_result\((?P<expr>.+)\)\s*$", re.DOTALL)


def variable_promql(var: Mapping[str, Any]) -> str | None:
    """The PromQL inside a Grafana query variable: `label_values(<selector>, label)` or
    `query_result(<expr>)`; None for `label_values(label)`, `label_names()` and the like."""
    query = var.get("query")
    text = str(query.get("query", "")) if isinstance(query, dict) else str(query or "")
    for pattern, group in ((_LABEL_VALUES, "selector"), (_QUERY_RESULT, "expr")):
        match = pattern.match(text)
        if match:
            return match.group(group)
    return None
