"""``make bench``: throughput, latency, replay speed and memory against same-run ceilings.

Entry point: ``python -m bench.run`` (see ``bench/run.py``). Not part of pytest.
"""
