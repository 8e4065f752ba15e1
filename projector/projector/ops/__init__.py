"""The operator's tools for the read side: the ``orders`` command line (``cli``) and its
back-ends (replay, verify, status, dead letters). The consumer group's offsets and the
commit marker, which the live projector reads an operator's reset with too, are in
``projector.offsets``.
"""
