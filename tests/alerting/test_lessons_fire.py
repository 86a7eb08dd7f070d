"""Every lesson of docs/lessons.yml on real services, Debian's Prometheus and Alertmanager with
the shipped configs: the declared alerts fire, reach the receiver with working links, and
resolve; nothing else fires. (How each stack is built: tests/support/lesson_runner.py.)

The lessons run at the same time, each on its own stack, because the rules keep their shipped
`for:` and windows: the slowest lesson (the tagger failure ratio, `for: 10m`) takes about 20
minutes, and the tier takes as long as its slowest lesson. The time each alert took is printed
at the end; docs/tour.md quotes those times.

`ALERTING_LESSONS=errors,canary` runs only those lessons (while working on one).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support import alerting as al
from tests.support import dashboards as d
from tests.support import lesson_runner as lr
from tests.support import lessons as ls
from tests.support.tools import require_executable

pytestmark = pytest.mark.timeout(45 * 60)

ALL = [lesson for lesson in ls.lessons(ls.load()) if not lesson.unproven]
SELECTED = {name for name in os.environ.get("ALERTING_LESSONS", "").split(",") if name}
LESSONS = [lesson for lesson in ALL if not SELECTED or lesson.id in SELECTED]


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def report(results: dict[str, lr.LessonResult]) -> list[str]:
    lines = ["alerting tier: time from a lesson's first step to each notification"]
    for result in results.values():
        lesson = result.lesson
        head = (
            f"  {lesson.id} (warm-up {lesson.warmup_minutes:g} min, run {minutes(result.duration)})"
        )
        if not result.timings:
            lines.append(
                f"{head}: no alert, as declared" if not result.problems else f"{head}: see problems"
            )
        for timing in result.timings.values():
            after_last = (
                timing.resolved - result.last_step
                if timing.resolved is not None and result.last_step is not None
                else None
            )
            lines.append(
                f"{head}: {timing.alert} firing after {minutes(timing.firing)}, "
                f"resolved after {minutes(timing.resolved)} "
                f"({minutes(after_last)} after the last step); "
                f"summary: {timing.annotations.get('summary')}"
            )
        lines.append(
            f"    panels checked: {len(result.panels_checked)}, "
            f"Loki/Tempo panels left to the live tier: {len(result.panels_skipped)}"
        )
    return lines


@pytest.fixture(scope="module")
def outcome(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, lr.LessonResult], list[str]]:
    require_executable("prometheus")
    al.require_alertmanager_tool("alertmanager")
    boards = {board["uid"]: board for board in (d.load(p) for p in d.dashboard_files())}
    tmp = tmp_path_factory.mktemp("alerting")
    # Every stack is up before any load starts (lesson_runner.run_lesson).
    all_started = threading.Barrier(len(LESSONS))
    with ThreadPoolExecutor(max_workers=len(LESSONS) + 1) as pool:
        futures = {
            lesson.id: pool.submit(
                lr.run_lesson, lesson, Path(tmp / lesson.id), boards, all_started
            )
            for lesson in LESSONS
        }
        inhibition = pool.submit(lr.inhibition_problems, Path(tmp / "inhibition"))
        results = {name: future.result() for name, future in futures.items()}
        inhibited = inhibition.result()
    return results, inhibited


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_lesson(outcome: tuple[dict[str, lr.LessonResult], list[str]], lesson: ls.Lesson) -> None:
    results, _ = outcome
    result = results[lesson.id]
    assert result.problems == []


def test_inhibitions(outcome: tuple[dict[str, lr.LessonResult], list[str]]) -> None:
    _, problems = outcome
    assert problems == []


def test_times_are_printed(
    outcome: tuple[dict[str, lr.LessonResult], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    results, _ = outcome
    lines = report(results)
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(lines) > len(results)
