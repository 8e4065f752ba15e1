"""The operator's tools for the read side: the ``orders`` command line (``cli``) and its
back-ends (replay, verify, status, dead letters, consumer-group offsets)."""
