"""Activities of inspections, rectifications and rounds: forms, bookings, projection, messages."""
