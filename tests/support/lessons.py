"""docs/lessons.yml, the declaration of what each trainer lesson does to the alerts, and the
checks that hold docs/tour.md and docs/runbooks.md to it. Every check returns a list of
problems, so tests run it on the real files and on broken samples alike."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "docs" / "lessons.yml"
TOUR = ROOT / "docs" / "tour.md"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

SERVICES = ("api", "api-canary", "tagger")
ACTIONS = ("switch_on", "switch_off", "reset", "traffic", "stop", "start")
WAITS = ("wait_firing", "wait_seconds")

Json = dict[str, Any]


@dataclass(frozen=True)
class Lesson:
    id: str
    tour: str
    warmup_minutes: float
    steps: tuple[Json, ...]
    fires: tuple[Json, ...]
    none: str
    unproven: str
    panels: tuple[tuple[str, str], ...]

    @property
    def alertnames(self) -> set[str]:
        return {f["alert"] for f in self.fires}

    def actions(self) -> list[Json]:
        return [s for s in self.steps if not set(s) & set(WAITS)]


def load(path: Path = LESSONS) -> Json:
    doc: Json = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc


def lessons(doc: Json) -> list[Lesson]:
    return [
        Lesson(
            id=raw["id"],
            tour=str(raw["tour"]),
            warmup_minutes=float(raw["warmup_minutes"]),
            steps=tuple(raw.get("steps") or ()),
            fires=tuple(raw.get("fires") or ()),
            none=str(raw.get("none") or ""),
            unproven=str(raw.get("unproven") or ""),
            panels=tuple((str(uid), str(title)) for uid, title in raw.get("panels") or ()),
        )
        for raw in doc["lessons"]
    ]


# --- the declaration itself -------------------------------------------------------------------


def step_problems(lesson: Lesson) -> list[str]:
    problems = []
    for step in lesson.steps:
        keys = set(step)
        action = keys & (set(ACTIONS) | set(WAITS))
        if len(action) != 1:
            problems.append(f"{lesson.id}: step {step} needs exactly one of {ACTIONS + WAITS}")
            continue
        (kind,) = action
        if kind in ("switch_on", "switch_off", "reset") and step.get("service") not in SERVICES:
            problems.append(f"{lesson.id}: step {step} names no service of {SERVICES}")
        if kind in ("stop", "start") and step[kind] not in SERVICES:
            problems.append(f"{lesson.id}: step {step} stops or starts an unknown service")
        if kind == "wait_firing" and not set(step[kind]) <= lesson.alertnames:
            problems.append(f"{lesson.id}: waits for {step[kind]}, not all of them declared")
    return problems


def outcome_problems(lesson: Lesson, alertnames: set[str]) -> list[str]:
    """Exactly one of fires / none / unproven; fired alerts exist and name their service."""
    given = [bool(lesson.fires), bool(lesson.none.strip()), bool(lesson.unproven.strip())]
    problems = []
    if sum(given) != 1:
        problems.append(f"{lesson.id}: declare exactly one of fires, none (reason), unproven")
    for fired in lesson.fires:
        if fired["alert"] not in alertnames:
            problems.append(f"{lesson.id}: fires {fired['alert']}, which no rule defines")
        labels = fired.get("labels") or {}
        if "severity" not in labels or not {"app_name", "job"} & set(labels):
            problems.append(f"{lesson.id}: {fired['alert']} needs severity and its service label")
    return problems


def coverage_problems(doc: Json, alertnames: set[str]) -> list[str]:
    """Every alert rule is declared under `alerts`, and is fired by a lesson or has a reason
    why none fires it (not both)."""
    declared = doc.get("alerts") or {}
    fired = {name for lesson in lessons(doc) for name in lesson.alertnames}
    problems = [
        f"alert {name} is not declared under `alerts`" for name in alertnames - set(declared)
    ]
    problems += [
        f"`alerts` declares {name}, which no rule defines" for name in set(declared) - alertnames
    ]
    for name in sorted(set(declared) & alertnames):
        reason = str(declared[name].get("no_lesson") or "").strip()
        if name in fired and reason:
            problems.append(f"{name}: a lesson fires it, yet it has a no_lesson reason")
        if name not in fired and not reason:
            problems.append(f"{name}: no lesson fires it and no reason says why")
    return problems


# --- the tour ---------------------------------------------------------------------------------


def sections(markdown: str) -> dict[str, str]:
    """`## ` heading key (its first word, e.g. "0:08" or "Longer") -> the section's text."""
    out: dict[str, str] = {}
    key = ""
    for line in markdown.splitlines():
        match = re.match(r"^## (\S+)", line)
        if match:
            key = match.group(1)
            out[key] = ""
        elif key:
            out[key] += line + "\n"
    return out


_FLAGS = {
    "--route": ("route", str),
    "--delay-ms": ("delay_ms", int),
    "--jitter-ms": ("jitter_ms", int),
    "--rate": ("rate", float),
    "--status": ("status", int),
    "--mode": ("mode", str),
    "--for": ("duration_seconds", float),
    "--canary-share": ("canary_share", float),
}
_EXEC = re.compile(
    r"^docker compose exec (?:-T )?(api|api-canary|tagger) (?:loan-api|doc-tagger) trainer (.*)$"
)
_ALIAS = re.compile(r"^trainer (.*)$")  # alias trainer='docker compose exec api loan-api trainer'
_COMPOSE = re.compile(r"^docker compose (stop|start) (api|api-canary|tagger)$")


def command_lines(text: str) -> list[str]:
    """Shell commands of a section: lines of fenced blocks and inline code spans, comments and
    everything after `#` dropped."""
    lines = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            lines.append(line)
        else:
            lines.extend(re.findall(r"`([^`]+)`", line))
    out = []
    for line in lines:
        code = line.split(" #", 1)[0].strip()
        if code and not code.startswith("#"):
            out.append(code)
    return out


def parse_command(line: str) -> Json | None:
    """The lesson step a tour command performs, or None if it is not a trainer command."""
    compose = _COMPOSE.match(line)
    if compose:
        return {compose[1]: compose[2]}
    exec_ = _EXEC.match(line)
    alias = _ALIAS.match(line)
    if exec_:
        service, rest = exec_[1], exec_[2]
    elif alias:
        service, rest = "api", alias[1]
    else:
        return None
    words = shlex.split(rest)
    if not words:
        return None
    verb, args = words[0], words[1:]
    params: Json = {}
    positional = []
    i = 0
    while i < len(args):
        if args[i] in _FLAGS:
            name, kind = _FLAGS[args[i]]
            params[name] = kind(args[i + 1])
            i += 2
        else:
            positional.append(args[i])
            i += 1
    if verb == "on" and len(positional) == 1:
        return {"service": service, "switch_on": positional[0], "params": params}
    if verb == "off" and len(positional) == 1 and not params:
        return {"service": service, "switch_off": positional[0]}
    if verb == "reset" and not positional and not params:
        return {"service": service, "reset": True}
    if verb == "traffic" and service == "api" and len(positional) <= 1:
        if positional:
            params = {"profile": positional[0], **params}
        return {"traffic": params} if params else None
    return None


def normalized(step: Json) -> str:
    """A comparable form: numbers as floats, keys sorted."""

    def norm(value: Any) -> Any:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dict):
            return {k: norm(v) for k, v in sorted(value.items())}
        return value

    return yaml.safe_dump(norm(step), sort_keys=True).strip()


def tour_problems(doc: Json, tour_markdown: str, alertnames: set[str]) -> list[str]:
    """Each tour section with lessons shows exactly their commands, and names no alert that
    its lessons do not fire; every lesson's section exists."""
    problems = []
    by_section: dict[str, list[Lesson]] = {}
    for lesson in lessons(doc):
        by_section.setdefault(lesson.tour, []).append(lesson)
    found = sections(tour_markdown)
    for key, section_lessons in by_section.items():
        if key not in found:
            problems.append(
                f"docs/tour.md has no section `## {key} ...` for {[x.id for x in section_lessons]}"
            )
            continue
        text = found[key]
        commands = {normalized(s) for line in command_lines(text) if (s := parse_command(line))}
        declared = {normalized(s) for lesson in section_lessons for s in lesson.actions()}
        for extra in sorted(commands - declared):
            problems.append(f"tour {key}: command {extra!r} is no step of its lessons")
        for absent in sorted(declared - commands):
            problems.append(f"tour {key}: lesson step {absent!r} is not in the section")
        promised = {name for name in alertnames if re.search(rf"\b{name}\b", text)}
        fired = {name for lesson in section_lessons for name in lesson.alertnames}
        for name in sorted(promised - fired):
            problems.append(f"tour {key}: names {name}, which its lessons do not fire")
        for name in sorted(fired - promised):
            problems.append(f"tour {key}: does not say that {name} fires")
    # Alerts may only be named in sections that have lessons.
    for key, text in found.items():
        if key in by_section:
            continue
        for name in sorted(alertnames):
            if re.search(rf"\b{name}\b", text):
                problems.append(f"tour {key}: names {name} outside any lesson")
    return problems


# --- the runbooks -----------------------------------------------------------------------------


def runbook_sections(markdown: str) -> dict[str, str]:
    out: dict[str, str] = {}
    key = ""
    for line in markdown.splitlines():
        match = re.match(r"^## (\S+)\s*$", line)
        if match:
            key = match.group(1)
            out[key] = ""
        elif line.startswith("## "):
            key = ""
        elif key:
            out[key] += line + "\n"
    return out


def runbook_problems(doc: Json, runbooks_markdown: str, alertnames: set[str]) -> list[str]:
    """Every alert's runbook section has a **Practice.** paragraph naming the tour sections of
    the lessons that fire it, or saying that no lesson does."""
    problems = []
    found = runbook_sections(runbooks_markdown)
    for name in sorted(alertnames):
        text = found.get(name)
        if text is None:
            problems.append(f"docs/runbooks.md has no section `## {name}`")
            continue
        match = re.search(r"\*\*Practice\.\*\*(.*?)(?:\n\n|\Z)", text, flags=re.S)
        if not match:
            problems.append(f"runbook {name}: no **Practice.** paragraph")
            continue
        practice = match.group(1)
        firing = [lesson for lesson in lessons(doc) if name in lesson.alertnames]
        for lesson in firing:
            if lesson.tour not in practice:
                problems.append(
                    f"runbook {name}: Practice does not name tour {lesson.tour} ({lesson.id})"
                )
        if not firing and "No lesson" not in practice:
            problems.append(f"runbook {name}: Practice must say `No lesson` and why")
    return problems
