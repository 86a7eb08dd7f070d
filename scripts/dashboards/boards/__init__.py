"""One module per dashboard, each with the function that builds it; `alerting` holds the panels
three of them end with."""
