"""The Grafana dashboards of grafana/dashboards/ and grafana/import/, built with Grafana's own SDK.

Run through scripts/build_dashboards.py (write the files, or `--check` them). Panels, queries,
variables, links, thresholds, overrides and the layout are built with grafana-foundation-sdk (its
"next" build, generated from Grafana's main-branch schemas: there is no 12.x or 13.x branch of the
SDK, and the 11.6 one predates the Grafana 13.2.1 pinned in .env; docs/dashboards.md, "How the
dashboards are built"). Its typed builders reject a wrong option name, a wrong enum value or a
query of the wrong kind before any JSON exists. Written by hand, because the SDK has no builder or
field for them: the alert list and trace panels' options (no alertlist or traces panel builder),
the extra fields of a Prometheus annotation (step, titleFormat, textFormat, tagKeys), the
`__comment` line, and Grafana's import format (`__inputs`, `__requires`).

One concern per module, each importing only the ones above it:

- `queries`: the datasource references and the Prometheus, Loki and TraceQL query builders.
- `variables`: the dashboard variables (datasource pickers, label values, custom, text box).
- `fields`: thresholds, overrides, value mappings and transformations of a panel's fields.
- `panels`: one builder per panel type, with the options every panel of that type shares.
- `layout`: a panel's size on the 24-column grid, section headings, panel ids.
- `board`: a whole dashboard (uid, tags, links, annotations) as classic JSON.
- `export`: the same dashboard in Grafana's import format.
- `boards`: one module per dashboard, plus the alerting panels three of them end with.
- `cli`: the files written, and `--check`.

Metric and label names follow docs/architecture.md and the upstream sources noted next to each
dashboard. Panels reading recording rules (`level:metric:operation` names) need the rule files in
prometheus/rules/ loaded into the same Prometheus; prometheus/rules/http_sources.yml makes the
RED panels read OpenTelemetry SDK metrics and span metrics too (docs/dashboards.md).
"""
