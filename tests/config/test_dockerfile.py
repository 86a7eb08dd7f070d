"""The app image: pinned multi-arch base, locked dependencies without the dev group, non-root."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_base_image_is_pinned_to_a_patch_release() -> None:
    args = dict(
        rest.split("=", 1)
        for keyword, rest in instructions(DOCKERFILE.read_text())
        if keyword == "ARG"
    )
    image = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", image), image
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    minor = int(image.split(":")[1].split(".")[1])
    assert f"<3.{minor + 1}" in pyproject["project"]["requires-python"]


def test_dependencies_come_from_the_lock_without_dev_tools() -> None:
    runs = [rest for keyword, rest in instructions(DOCKERFILE.read_text()) if keyword == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs, "the image installs with uv sync"
    assert all("--locked" in run and "--no-dev" in run for run in syncs), syncs
    assert any(re.search(r"uv==\d+\.\d+\.\d+", run) for run in runs), "uv itself is pinned"


def test_final_stage_runs_as_an_unprivileged_user() -> None:
    steps = instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    users = [rest for keyword, rest in steps[last_from:] if keyword == "USER"]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid not in {"0", "root"}
    # The build tools stay in the build stage: the final stage copies only the virtualenv.
    copies = [rest for keyword, rest in steps[last_from:] if keyword == "COPY"]
    assert copies == ["--from=build --chown=root:root /srv/.venv /srv/.venv"]


def test_the_parser_sees_a_root_user_when_there_is_one() -> None:
    steps = instructions("FROM python:3.13.1-slim-trixie\nUSER root\n")
    assert [rest for keyword, rest in steps if keyword == "USER"] == ["root"]


def test_the_image_installs_every_workspace_member() -> None:
    """The services import `loan_desk_telemetry` from the workspace member
    packages/loan-desk-telemetry."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members = pyproject["tool"]["uv"]["workspace"]["members"]
    assert members == ["packages/loan-desk-telemetry"]
    steps = instructions(DOCKERFILE.read_text())
    build = steps[: max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")]
    syncs = [i for i, (keyword, rest) in enumerate(build) if keyword == "RUN" and "uv sync" in rest]
    first_sync, last_sync = syncs[0], syncs[-1]
    copies_before_first = [rest for keyword, rest in build[:first_sync] if keyword == "COPY"]
    copies_before_last = [rest for keyword, rest in build[:last_sync] if keyword == "COPY"]
    for member in members:
        # uv checks the lock against each member's pyproject.toml, so the dependency layer needs
        # it; the last sync builds the member from its sources (README.md is its readme).
        assert f"{member}/pyproject.toml ./{member}/" in copies_before_first
        assert (ROOT / member / "README.md").is_file()
    assert "--no-install-workspace" in build[first_sync][1]
    assert "packages ./packages" in copies_before_last
    # .dockerignore must not drop the member's sources or its readme.
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"packages", "packages/*", "*.md", "README.md"} & set(ignored)
