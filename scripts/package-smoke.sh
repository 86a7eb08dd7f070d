#!/usr/bin/env bash
# The observability package outside this repository: build its wheel and sdist, install the
# wheel into a fresh virtual environment with only its declared dependencies (plus uvicorn to
# serve the smoke app; fastapi is one of them), and run scripts/package_smoke.py there: one
# request exported over OTLP to a stdlib receiver, one /metrics scrape. Any failure exits non-zero.
# Usage: scripts/package-smoke.sh [python]   (default 3.11, the oldest supported)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-3.11}
package=loan-desk-telemetry
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# uv build makes the sdist, then the wheel from the sdist: a file missing from the sdist fails here.
uv build --quiet --package "$package" --out-dir "$work/dist"
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
wheel_files=$(unzip -Z1 "$wheel")
for required in loan_desk_telemetry/__init__.py loan_desk_telemetry/py.typed; do
  grep -qx "$required" <<<"$wheel_files" || { echo "smoke: $required missing from $wheel" >&2; exit 1; }
done
sdist_files=$(tar -tzf "$sdist")
for required in README.md CHANGELOG.md src/loan_desk_telemetry/py.typed; do
  grep -q "/$required\$" <<<"$sdist_files" || { echo "smoke: $required missing from $sdist" >&2; exit 1; }
done

# No --system-site-packages, no workspace, no lock: the resolver sees only the wheel's metadata.
uv venv --quiet --python "$python" "$work/venv"
uv pip install --quiet --python "$work/venv/bin/python" "$wheel" "uvicorn>=0.54,<0.60"
# From an empty directory, with no PYTHONPATH: `loan_desk_telemetry` can only come from the wheel.
cp scripts/package_smoke.py "$work/"
(cd "$work" && env -u PYTHONPATH "$work/venv/bin/python" -I package_smoke.py)
echo "package smoke passed: $(basename "$wheel") on Python $("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')"
