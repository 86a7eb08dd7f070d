"""docs/lessons.yml against the rules, the dashboards, docs/tour.md and docs/runbooks.md: a tour
step promises no alert its lesson does not fire, and every alert has a runbook that says which
lesson fires it, or why none does. (The alerting tier proves the declared alerts fire.)"""

from __future__ import annotations

import pytest

from tests.support import dashboards as d
from tests.support import lessons as ls
from tests.support import prom_rules as r

DOC = ls.load()
LESSONS = ls.lessons(DOC)
RULES = r.alert_rules([r.load_yaml(p) for p in r.rule_files()])
ALERTNAMES = {rule["alert"] for rule in RULES}
BOARDS = {board["uid"]: board for board in (d.load(p) for p in d.dashboard_files())}
TOUR = ls.TOUR.read_text(encoding="utf-8")
RUNBOOKS = ls.RUNBOOKS.read_text(encoding="utf-8")


def test_lesson_ids_are_unique() -> None:
    ids = [lesson.id for lesson in LESSONS]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_lesson_is_well_formed(lesson: ls.Lesson) -> None:
    assert ls.step_problems(lesson) + ls.outcome_problems(lesson, ALERTNAMES) == []


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.id)
def test_lesson_panels_exist(lesson: ls.Lesson) -> None:
    assert lesson.panels
    for uid, title in lesson.panels:
        assert uid in BOARDS, uid
        assert title in r.panel_titles(BOARDS[uid]).values(), (uid, title)


def test_every_alert_is_fired_by_a_lesson_or_says_why_not() -> None:
    assert ls.coverage_problems(DOC, ALERTNAMES) == []


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule["alert"])
def test_dashboard_url_opens_the_declared_panel(rule: dict) -> None:
    uid, title = DOC["alerts"][rule["alert"]]["panel"]
    located = r.dashboard_panel(rule)
    assert located is not None
    assert located[0] == uid
    # Panel ids follow the layout: a panel inserted above moves them, and this catches it.
    assert r.panel_titles(BOARDS[uid])[located[1]] == title


def test_the_tour_keeps_to_the_declaration() -> None:
    assert ls.tour_problems(DOC, TOUR, ALERTNAMES) == []


def test_every_runbook_says_how_to_practise_it() -> None:
    assert ls.runbook_problems(DOC, RUNBOOKS, ALERTNAMES) == []


# --- the checks can fail ----------------------------------------------------------------------


def test_a_tour_that_promises_an_undeclared_alert_fails() -> None:
    promising = TOUR.replace(
        "## 0:03", "## 0:03\n\nAfter a minute HttpLatencyBudgetBurnFast fires.\n", 1
    )
    assert "tour 0:03: names HttpLatencyBudgetBurnFast, which its lessons do not fire" in (
        ls.tour_problems(DOC, promising, ALERTNAMES)
    )


def test_a_tour_command_that_differs_from_its_lesson_fails() -> None:
    changed = TOUR.replace("--rate 0.5 --status 503", "--rate 0.3 --status 503", 1)
    problems = ls.tour_problems(DOC, changed, ALERTNAMES)
    assert any("is no step of its lessons" in p for p in problems), problems
    assert any("is not in the section" in p for p in problems), problems


def test_a_lesson_without_outcome_and_an_uncovered_alert_fail() -> None:
    (errors,) = [lesson for lesson in LESSONS if lesson.id == "errors"]
    bare = ls.Lesson(errors.id, errors.tour, 1, errors.steps, (), "", "", errors.panels)
    assert ls.outcome_problems(bare, ALERTNAMES) != []
    without = {
        "lessons": [x for x in DOC["lessons"] if x["id"] != "tagger-down"],
        "alerts": DOC["alerts"],
    }
    assert "ServiceTargetDown: no lesson fires it and no reason says why" in ls.coverage_problems(
        without, ALERTNAMES
    )


def test_a_runbook_without_practice_fails() -> None:
    stripped = RUNBOOKS.replace("**Practice.**", "**Practise.**")
    assert len(ls.runbook_problems(DOC, stripped, ALERTNAMES)) == len(ALERTNAMES)


def test_tour_commands_parse_into_steps() -> None:
    assert ls.parse_command(
        "docker compose exec api-canary loan-api trainer on errors --rate 0.5 --status 500"
    ) == {"service": "api-canary", "switch_on": "errors", "params": {"rate": 0.5, "status": 500}}
    assert ls.parse_command("trainer traffic spike --for 60") == {
        "traffic": {"profile": "spike", "duration_seconds": 60.0}
    }
    assert ls.parse_command("docker compose stop tagger") == {"stop": "tagger"}
    assert ls.parse_command("curl -fsS http://127.0.0.1:8000/admin/scenarios") is None
