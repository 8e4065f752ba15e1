"""Where the projection lives: the Redis adapters (views, generations) and an in-memory
store with the same guards for tests."""
