"""What a panel does with its fields: thresholds, overrides, value mappings, transformations."""

from __future__ import annotations

from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import dashboard as dm

# (matcher id, matcher option, properties): an override, applied by the panel builders.
Override = tuple[str, str, list[dm.DynamicConfigValue]]
Thresholds = Builder[dm.ThresholdsConfig]
# A step of a threshold: its colour, and the value it starts at (None: from minus infinity).
Step = tuple[str, float | None]

GREEN_ONLY: Step = ("green", None)
DASHED_LINE = ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})


def thresholds(*steps: Step) -> Thresholds:
    return (
        dash.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for c, v in steps])
    )


def red_from(value: float, *, orange_from: float | None = None) -> Thresholds:
    """Green, then orange from `orange_from` when given, then red from `value`."""
    orange: tuple[Step, ...] = () if orange_from is None else (("orange", orange_from),)
    return thresholds(GREEN_ONLY, *orange, ("red", value))


def green_from(value: float) -> Thresholds:
    """Red below `value`, green from it: a share to reach, a count that must not be 0."""
    return thresholds(("red", None), ("green", value))


def by_name(field: str, *properties: tuple[str, object]) -> Override:
    return ("byName", field, [dm.DynamicConfigValue(p, v) for p, v in properties])


def by_regexp(pattern: str, *properties: tuple[str, object]) -> Override:
    return ("byRegexp", pattern, [dm.DynamicConfigValue(p, v) for p, v in properties])


def colors(*pairs: tuple[str, str]) -> list[Override]:
    """Fixed series colours by series name."""
    return [by_name(name, ("color", {"mode": "fixed", "fixedColor": c})) for name, c in pairs]


def unit_override(field: str, unit: str) -> Override:
    return by_name(field, ("unit", unit))


def link_override(field: str, title: str, url: str) -> Override:
    return by_name(field, ("links", [{"title": title, "url": url}]))


def value_map(options: dict[str, tuple[str, str]]) -> dm.ValueMapping:
    """Value -> (text, colour)."""
    return dm.ValueMap(
        options={
            value: dm.ValueMappingResult(text=text, color=color, index=index)
            for index, (value, (text, color)) in enumerate(options.items())
        }
    )


def transform(transformer: str, options: dict[str, Any] | None = None) -> dm.DataTransformerConfig:
    return dm.DataTransformerConfig(id_val=transformer, options=options or {})


def log_labels_as_fields() -> dm.DataTransformerConfig:
    """A Loki line's labels and structured metadata as columns of a table."""
    return transform("extractFields", {"source": "labels", "format": "auto", "replace": False})


def columns(names: list[str], rename: dict[str, str] | None = None) -> dm.DataTransformerConfig:
    """Only these fields, in this order, some of them renamed."""
    options: dict[str, Any] = {
        "includeByName": dict.fromkeys(names, True),
        "indexByName": {name: index for index, name in enumerate(names)},
    }
    if rename:
        options["renameByName"] = rename
    return transform("organize", options)
