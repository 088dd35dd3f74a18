"""Helpers shared by several test folders (not fixtures: those live in the conftests)."""
