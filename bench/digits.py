"""Digits: gallery start time and generation latency on this machine.

    python -m bench.digits

Start time: `python app.py` launched as a process until its page answers 200.
Latency: core.apps.digits.generate for 20 and 100 digits, median of 10 after a warm-up,
in-process (the weights are loaded once by the warm-up).
"""
from core.runtime import configure_process

configure_process()

import os  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def gallery_start_seconds() -> float:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HF_HUB_OFFLINE="1", GAN_GALLERY_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait()


def median_ms(fn, repeats: int = 10) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    from core.apps import digits

    starts = [gallery_start_seconds() for _ in range(3)]
    print(f"gallery start (process launch -> page 200), median of 3: {statistics.median(starts):.2f} s  (runs: {', '.join(f'{s:.2f}' for s in starts)})")
    for count in (20, 100):
        print(f"digits.generate count={count}: {median_ms(lambda: digits.generate(1, count)):.1f} ms (median of 10)")
    first_request = time.perf_counter()
    from core.runtime import models

    models.clear()
    digits.generate(2, 20)
    print(f"first request including weight load: {(time.perf_counter() - first_request) * 1000:.0f} ms")
    print(f"threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")


if __name__ == "__main__":
    main()
