"""What every domain needs: database, migrations, Temporal connection, request memo,
tokens, revocation, logs and metrics, message templates, geography."""
