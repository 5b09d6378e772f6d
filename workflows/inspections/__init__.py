"""Joint inspection, rectification of each hazard, and inspection rounds (campaigns)."""
