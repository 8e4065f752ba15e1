"""The projection's pure core: a batch of records and what Redis holds -> a plan, run
against small ports (store, dead letters, rewind) with retries; no Faust, no Kafka client.
"""
