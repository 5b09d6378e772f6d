"""Stewards and chat: the roster, the nearest-steward index, presence, bot callbacks."""
