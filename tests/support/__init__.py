"""Helpers shared by the test layers (real infrastructure, event-log readers)."""
