# syntax=docker/dockerfile:1
# One image for the api, the tagger, the alert receiver, the migrate step and the load generator.
# Multi-arch base (amd64, arm64); dependencies come from uv.lock, without the dev group.
ARG PYTHON_IMAGE=python:3.13.15-slim-trixie

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /srv
# Dependencies first, in their own layer: source edits do not reinstall them. uv reads every
# workspace member's pyproject.toml to check the lock; --no-install-workspace leaves out the
# project and the members (packages/loan-desk-telemetry), which the second sync installs as wheels.
COPY pyproject.toml uv.lock ./
COPY packages/loan-desk-telemetry/pyproject.toml ./packages/loan-desk-telemetry/
RUN uv sync --locked --no-dev --no-install-workspace
COPY README.md ./
COPY app ./app
COPY packages ./packages
RUN uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE}
ENV PATH=/srv/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent app
COPY --from=build --chown=root:root /srv/.venv /srv/.venv
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000 8001 8003
# The compose file picks the command: loan-api serve | loan-api migrate | doc-tagger serve |
# alert-receiver serve | loadgen
CMD ["loan-api", "serve", "--host", "0.0.0.0", "--port", "8000"]
