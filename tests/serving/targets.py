"""Worker targets for the pool's tests: each does one observable thing."""
from __future__ import annotations

import os
import subprocess
import time

from core.errors import InputError


def add(a, b):
    return a + b


def whoami():
    return os.getpid()


def count_to(n, progress=None):
    for i in range(1, n + 1):
        progress(i, n, "counting")
    return n


def refuse(text):
    raise InputError(text)


def crash():
    raise ZeroDivisionError("on purpose")


def die():
    os._exit(3)


def sleep_with_child(seconds, pid_file):
    """Start a long-running child (like ffmpeg) and sleep; its pid goes to pid_file."""
    child = subprocess.Popen(["sleep", str(seconds)])
    with open(pid_file, "w") as f:
        f.write(str(child.pid))
    time.sleep(seconds)
    return "slept"


def until_stopped(should_stop, emit=None):
    steps = 0
    while not should_stop() and steps < 600:
        steps += 1
        if emit is not None:
            emit(steps)
        time.sleep(0.05)
    return steps


def precision():
    """The precision the call runs under (its caller's)."""
    from core.runtime import current_precision

    return current_precision()
