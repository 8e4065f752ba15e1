"""Ordersource query API: answers from the Redis read views the projector maintains."""
