"""The decider: the single writer of each partition of the event log."""
