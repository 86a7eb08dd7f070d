"""docs/alerting.md: the Alertmanager config a team would write for Slack, e-mail and PagerDuty
passes `amtool check-config` (Debian's Alertmanager), keeps its secrets in files, and its Compose
override is valid Compose next to compose.yaml."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.config import stackfiles as sf
from tests.support.tools import require_executable

DOC = sf.ROOT / "docs" / "alerting.md"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
_BLOCK = re.compile(r"```yaml\n(.*?)```", re.S)


def yaml_block(first_line: str) -> str:
    blocks = [b for b in _BLOCK.findall(DOC.read_text()) if b.startswith(first_line)]
    assert len(blocks) == 1, f"one yaml block starting with {first_line!r}"
    return blocks[0]


def amtool_check(path: Path) -> subprocess.CompletedProcess[str]:
    amtool = require_executable("amtool")
    return subprocess.run(
        [amtool, "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_documented_config_passes_amtool(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml_block("# alertmanager.yml"))
    result = amtool_check(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 receivers" in result.stdout, result.stdout


def test_amtool_rejects_a_broken_copy(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml_block("# alertmanager.yml").replace("routing_key_file", "routing_kee"))
    assert amtool_check(path).returncode != 0


def test_every_receiver_of_the_documented_config_is_routed_and_secrets_are_files() -> None:
    config: dict[str, Any] = yaml.safe_load(yaml_block("# alertmanager.yml"))
    names = {r["name"] for r in config["receivers"]}
    routed = {config["route"]["receiver"]} | {r["receiver"] for r in config["route"]["routes"]}
    assert routed == names
    # The stack's own receiver stays, first, and lets the others see every alert too.
    first = config["route"]["routes"][0]
    assert (first["receiver"], first["continue"]) == ("alert-receiver", True)
    keys = {path.rsplit(".", 1)[-1] for path, _ in sf.walk(config)}
    inline = {"api_url", "routing_key", "service_key", "auth_password", "smtp_auth_password"}
    assert not keys & inline, keys & inline
    files = re.findall(r'"\w+_file": "([^"]+)"', json.dumps(config))
    assert sorted(files) == [
        "/run/secrets/pagerduty_routing_key",
        "/run/secrets/slack_webhook_url",
        "/run/secrets/smtp_password",
    ]


def test_the_documented_compose_override_is_valid_compose() -> None:
    override: dict[str, Any] = yaml.safe_load(yaml_block("# compose.override.yaml"))
    merged = copy.deepcopy(sf.load_compose())
    merged["services"]["alertmanager"].update(override["services"]["alertmanager"])
    merged["secrets"] = override["secrets"]
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    assert [e.message for e in validator.iter_errors(merged)] == []
    config: dict[str, Any] = yaml.safe_load(yaml_block("# alertmanager.yml"))
    mounted = {f"/run/secrets/{name}" for name in override["services"]["alertmanager"]["secrets"]}
    used = set(re.findall(r'"\w+_file": "([^"]+)"', json.dumps(config)))
    assert used == mounted
