"""Where the panels go: a panel's size on Grafana's 24-column grid, headings, panel ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as dash

from dashboards.panels import Panel

GRID_COLUMNS = 24


@dataclass(frozen=True)
class Cell:
    """A panel and its size in grid units (columns of 24, rows of 30 px)."""

    panel: Panel
    width: int
    height: int

    def __post_init__(self) -> None:
        if not 1 <= self.width <= GRID_COLUMNS or self.height < 1:
            raise ValueError(f"a cell is 1 to {GRID_COLUMNS} columns wide, 1 or more high: {self}")


@dataclass(frozen=True)
class Heading:
    """A row panel: a full-width heading over the panels that follow it (never collapsed)."""

    title: str


Item = Cell | Heading


def lay_out(board: dash.Dashboard, items: Sequence[Item]) -> dash.Dashboard:
    """The items added to the dashboard in order.

    Panel ids count up from 1 in order, headings included: alert rules link to `viewPanel=<id>`,
    so panels are only ever appended. The SDK lays panels out left to right, wrapping at 24
    columns; every line of every dashboard here fills the 24 columns exactly
    (tests/config/test_dashboards.py checks the positions it writes).
    """
    for panel_id, item in enumerate(items, start=1):
        if isinstance(item, Heading):
            board = board.with_row(dash.Row(item.title).collapsed(False).id(panel_id))
        else:
            board = board.with_panel(item.panel.id(panel_id).span(item.width).height(item.height))
    return board


def line(*panels: Panel, height: int) -> list[Item]:
    """One line of the grid: the panels side by side, sharing the 24 columns equally."""
    if not panels or GRID_COLUMNS % len(panels):
        raise ValueError(f"{len(panels)} panels do not share {GRID_COLUMNS} columns equally")
    width = GRID_COLUMNS // len(panels)
    return [Cell(panel, width, height) for panel in panels]
