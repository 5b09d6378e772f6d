"""Activities of steward dispatch: the nearest free steward, booked atomically."""
