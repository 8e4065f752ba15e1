"""Ordersource command side: the command API and the decider (one writer per partition)."""
