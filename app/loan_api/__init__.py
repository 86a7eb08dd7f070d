"""loan_api."""
