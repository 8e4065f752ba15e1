"""Process plumbing: a stuck process can be asked for its thread stacks (SIGUSR1)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_sigusr1_writes_every_threads_stack_to_the_log() -> None:
    program = textwrap.dedent(
        """
        import os, signal, threading
        from ordersource.runtime import configure_logging

        configure_logging("INFO", "probe")
        stop = threading.Event()
        worker = threading.Thread(target=stop.wait, name="parked", daemon=True)
        worker.start()
        os.kill(os.getpid(), signal.SIGUSR1)
        stop.set()
        print("still running")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )
    assert "still running" in done.stdout  # the dump does not end the process
    assert "most recent call first" in done.stderr
    assert done.stderr.count("hread 0x") >= 2  # the main thread and the parked one
