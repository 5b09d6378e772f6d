"""Activities of case workflows: projection of cases, their messages."""
