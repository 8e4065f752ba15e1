"""The command API: validates requests, appends commands, relays the decider's verdicts.

``app.create_app(settings)`` builds it; ``python -m command_service`` serves it.
"""
