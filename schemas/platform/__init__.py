"""What every domain shares: the small value types that guard every input (``common``),
coordinates and their conversion to WGS-84 (``coordinates``), the name of every human
action and its update id (``updates``), and the platform's own tables: web accounts
and sessions (``accounts``) and revoked API tokens (``tokens``).
"""
