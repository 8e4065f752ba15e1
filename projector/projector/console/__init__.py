"""The operator's console: ``python -m projector.console``, a page at ``/console/``.

A fifth small process beside the four services, and not a route of the query API: the
query API reads Redis only and serves readers at thousands of requests a second, while
the console's actions need Kafka (dead letters, replays, verify, the audit trail) and
a replay or a verify folds the whole log — work that must not share the query API's
event loop. The console is the ``orders`` tool's browser face and runs the same code
(``projector.ops``).

It uses the same APIs and the same role tokens: orders, history, time travel and the
projector's reports are read through the query API with the browser's own bearer token
(the query API checks it), and the console checks that token against the same
``ORDERS_AUTH_TOKENS`` for what it serves itself. Readers see; only admins act; every
action is recorded in the audit topic before it runs, naming who asked.
"""
