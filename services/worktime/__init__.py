"""The national calendar as this town runs it: loaded notices, slices for cases."""
