"""The outbox and the gateways every domain's messages go through."""
