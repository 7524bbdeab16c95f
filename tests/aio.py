"""Run an async handler to completion from a synchronous test, whatever loop the test's thread holds."""
from __future__ import annotations

import asyncio
import threading


def run(coroutine, timeout_s: float = 600):
    """``asyncio.run(coroutine)`` on a thread of its own; its result returned, its exception raised here.

    Playwright's sync API keeps an event loop running on the main thread while the session's
    browser lives, and ``asyncio.run`` refuses to start inside a running loop.
    """
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as error:  # handed to the caller, pytest.raises included
            outcome["error"] = error

    thread = threading.Thread(target=target, name="test-handler")
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"the handler did not finish within {timeout_s} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
