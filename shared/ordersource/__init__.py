"""Ordersource's shared core: the pure domain, the codec, settings and the Redis key scheme."""
