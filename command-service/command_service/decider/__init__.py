"""The decider: the single writer of each partition of the event log.

``loop`` polls the consumer group and feeds one ``writer`` thread per partition; a writer
judges its commands with its ``book`` (the fold of its partition and what each command
caused) in Kafka transactions (``records``: the records it reads and sends), then hands
the verdicts to the process's ``courier``, which delivers them to Redis. ``catchup``
rebuilds a book from the log; ``clients`` builds the process's clients once and
``ports`` says what a writer needs of them; ``health`` serves /healthz, /readyz and the
``metrics``; ``rejoin`` works around a kafka-python group bug.
"""
