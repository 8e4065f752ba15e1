"""The operator's tools for the read side: the ``orders`` command line (``cli``) and its
back-ends (replay, verify, status, dead letters).

``offsets`` (the consumer group as Kafka sees it, and the projector's commit marker) is
also what the live projector reads an operator's reset with (``projector.runtime.reset``):
the writer and the reader of a reset share one implementation.
"""
