"""The command API: validates requests, appends commands, relays the decider's verdicts.

``app.create_app(settings)`` builds it and, in its lifespan, its clients; ``python -m
command_service`` serves it. The ``routes`` turn requests into commands for the
``gateway`` (Idempotency-Key, append with ``commandlog``, wait with ``waiter``), whose
replies ``responses`` turns into HTTP. ``command_service.answers`` (beside this package,
shared with the decider) is the one place a decision gets its status code and body;
``schemas`` and
``limits`` bound the input; ``ports`` says what the gateway and the waiter need.
"""
