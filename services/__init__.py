"""Plain-Python services shared by the API and the activities (no Temporal, no HTTP routes)."""
