"""Stewards and chat: what the chat-bot gateway sends when a steward presses a button or
changes presence, and what it gets back (``bot``).
"""
