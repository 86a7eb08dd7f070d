"""alert-receiver: Alertmanager's webhook, turned into log lines.

Alertmanager POSTs each notification (firing and resolved) to ``/v1/notifications``; every alert
in it becomes one structured log line (``alert.notification``) that travels the way every log
line of the stack travels, OTLP -> collector -> Loki, where the Logs dashboard shows it with
links to the alert's runbook and dashboard. Nothing to sign up for; docs/alerting.md says how to
swap in Slack, e-mail or PagerDuty.
"""

__version__ = "0.1.0"
