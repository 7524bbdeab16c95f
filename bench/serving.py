"""Serving: light endpoints while heavy work runs, heavy throughput and memory of `python app.py`.

    python -m bench.serving                          # this checkout: starts `python app.py --port P` itself
    python -m bench.serving --root /tmp/bench-before # another checkout (e.g. an older commit in a git worktree)
    python -m bench.serving --url http://127.0.0.1:7860/ [--pid PID]   # a server that is already running

The gallery is started with HF_HUB_OFFLINE=1, GAN_GALLERY_OFFLINE=1 and a private GAN_GALLERY_CACHE
(and request / examples directories) in a temporary directory; the benchmark waits until the page
answers, the offline imports have written the Real-ESRGAN x4plus and vintage checkpoints into that
cache and the server's processes are quiet, then measures:

1. idle: ``GET /config`` and ``/digits_generate`` (gradio_client; 20 digits, a new seed each time),
   ``--probes`` of each, one after the other;
2. during heavy jobs: ``--heavy`` clients (distinct sessions) each submit one Real-ESRGAN x4plus
   ``/restore_image`` of a 256x256 centre crop of assets/examples/chelsea.jpg (args: photo,
   "realesrgan_x4plus", "none", 32); once one of them is running, the same probes repeat every
   ``--probe-interval`` seconds until the heavy jobs are done or ``--probes`` pairs were taken. Each
   probe has a 60 s timeout; a timeout or an error counts as a failure;
3. heavy throughput: jobs completed per minute from the first submission to the last result, and
   seconds per job; then ``--vintage`` sequential vintage ``/translate_image`` calls of chelsea.jpg;
4. memory: peak RSS of the server process, of its workers (descendants whose command line contains
   "core.serving"; the sum of each worker's peak) and of the whole process tree (the largest sum over
   one sample), sampled every 0.2 s in a thread for the whole run. RSS sums count shared pages once
   per process.

The probes during heavy jobs cover about ``--probes`` x ``--probe-interval`` seconds from the moment a
heavy job starts running (20 s by default): with the defaults that is the start of the first job
(model loading and engine set-up included), not the whole heavy phase; raise ``--probe-interval`` to
spread them further. Each job's own time as the server reports it ("Done in ... s") is printed
next to the time its client waited.

p95 is the nearest-rank 95th percentile (the 19th of 20). Times are wall-clock seconds seen by the
client, which runs on the same machine (its own CPU use is small: it only waits on sockets).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from tests.e2e.conftest import free_port
from tests.e2e.conftest import server_env as e2e_server_env

REPO = Path(__file__).resolve().parent.parent
PHOTO = Path("assets/examples/chelsea.jpg")
CROP = 256
PROBE_TIMEOUT_S = 60.0
START_TIMEOUT_S = 180.0
# Written into the cache by the offline imports (same names before and after the worker pool).
READY_FILES = ("realesrgan-x4plus.pdparams", "vintagify-G_A2B_epoch33.pdparams")
MIB = 1 << 20


# ---------------------------------------------------------------- numbers


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, -(-95 * len(values) // 100) - 1)]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50": statistics.median(values), "p95": p95(values), "max": max(values)}


def fmt_latency(stats: dict, failures: int, tried: int) -> str:
    fail = f"; {failures} of {tried} failed" if failures else f"; 0 of {tried} failed"
    if stats.get("errors"):
        fail += " (" + "; ".join(f"{n}x {message}" for message, n in stats["errors"].items()) + ")"
    if not stats.get("n"):
        return f"no successful probe{fail}"
    return f"p50 {stats['p50'] * 1000:.0f} ms, p95 {stats['p95'] * 1000:.0f} ms, max {stats['max'] * 1000:.0f} ms{fail}"


# ---------------------------------------------------------------- the server and its processes


def server_env(tmp: Path, port: int, workers: str | None) -> dict:
    """The tests' offline server environment (tests/e2e/conftest.py), on `port`, with `workers` if given."""
    env = e2e_server_env(tmp)
    env["GRADIO_SERVER_PORT"] = str(port)
    if workers is not None:
        env["GAN_GALLERY_WORKERS"] = workers
    return env


def start_gallery(root: Path, tmp: Path, workers: str | None):
    port = free_port()
    python = root / ".venv" / "bin" / "python"
    python = str(python) if python.exists() else sys.executable
    log_path = tmp / "server.log"
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([python, "app.py", "--port", str(port)], cwd=root,
                                   env=server_env(tmp, port, workers), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < START_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return process, url, time.perf_counter() - start
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not answer within {START_TIMEOUT_S:.0f} s:\n{log_path.read_text(errors='replace')[-3000:]}")


def stop_gallery(process: subprocess.Popen, seen_pids: set[int]) -> None:
    import psutil

    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # Workers end themselves when the server's socket closes; make sure of it, by pid.
    deadline = time.monotonic() + 5
    for pid in seen_pids:
        try:
            p = psutil.Process(pid)
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except psutil.NoSuchProcess:
            continue
        except psutil.TimeoutExpired:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass


def listening_pid(url: str) -> int | None:
    """The local process listening on `url`'s port, if psutil may see it."""
    import urllib.parse

    import psutil

    port = urllib.parse.urlparse(url).port
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return conn.pid
    except (psutil.AccessDenied, PermissionError):
        pass
    return None


class RssSampler(threading.Thread):
    """Every `interval` s: RSS of the server, of each worker and of the whole tree; keeps the peaks."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(name="rss-sampler", daemon=True)
        self.pid = pid
        self.interval = interval
        self.server_peak = 0
        self.worker_peaks: dict[int, int] = {}
        self.tree_peak = 0
        self.samples = 0
        self.seen: set[int] = set()
        self._halt = threading.Event()

    def sample(self) -> None:
        import psutil

        try:
            server = psutil.Process(self.pid)
            server_rss = server.memory_info().rss
            children = server.children(recursive=True)
        except psutil.NoSuchProcess:
            return
        tree = server_rss
        for child in children:
            try:
                rss = child.memory_info().rss
                cmdline = " ".join(child.cmdline())
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
            self.seen.add(child.pid)
            tree += rss
            if "core.serving" in cmdline:
                self.worker_peaks[child.pid] = max(self.worker_peaks.get(child.pid, 0), rss)
        self.server_peak = max(self.server_peak, server_rss)
        self.tree_peak = max(self.tree_peak, tree)
        self.samples += 1

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def worker_pids(self) -> list[int]:
        return sorted(self.worker_peaks)


def tree_cpu_percent(pid: int, window: float = 1.0) -> float:
    """CPU of the server and its descendants over `window` s, in % of one core."""
    import psutil

    try:
        server = psutil.Process(pid)
        processes = [server] + server.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    for p in processes:
        try:
            p.cpu_percent(None)
        except psutil.Error:
            pass
    time.sleep(window)
    total = 0.0
    for p in processes:
        try:
            total += p.cpu_percent(None)
        except psutil.Error:
            pass
    return total


def wait_until_ready(cache: Path | None, pid: int | None, timeout_s: float) -> tuple[float, bool, str]:
    """Until the imported checkpoints are in the cache and the server's processes are quiet."""
    start = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    files_ok = True
    if cache is not None:
        while True:
            found = {name for name in READY_FILES if cache.exists() and any(cache.rglob(name))}
            if len(found) == len(READY_FILES):
                break
            if time.monotonic() > deadline:
                files_ok = False
                break
            time.sleep(0.5)
    note = ""
    if pid is not None:
        quiet = 0
        while time.monotonic() < deadline:
            cpu = tree_cpu_percent(pid)
            quiet = quiet + 1 if cpu < 25 else 0
            if quiet >= 2:  # two quiet seconds in a row
                break
        else:
            note = "server never became quiet before the set-up timeout"
    return time.perf_counter() - start, files_ok, note


# ---------------------------------------------------------------- probes


def client(url: str, downloads: Path):
    """A gradio_client session whose own HTTP calls (join, upload, download) wait up to 60 s, not httpx's 5 s."""
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(downloads), httpx_kwargs={"timeout": PROBE_TIMEOUT_S})


def describe(error: BaseException) -> str:
    return (f"{type(error).__name__}: {error}".strip().rstrip(":"))[:200]


class Prober:
    """Times one light request at a time; returns (seconds, None) or (None, error)."""

    def __init__(self, url: str, downloads: Path):
        self.url = url
        self.downloads = downloads
        self.client = client(url, downloads)
        self.seed = 1000

    def config(self) -> tuple[float | None, str | None]:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(self.url + "config", timeout=PROBE_TIMEOUT_S) as response:
                response.read()
        except OSError as error:
            return None, describe(error)
        return time.perf_counter() - start, None

    def digits(self) -> tuple[float | None, str | None]:
        if self.client is None:  # after a failure: a fresh session, as a visitor reloading the page
            try:
                self.client = client(self.url, self.downloads)
            except Exception as error:  # noqa: BLE001
                return None, "new session: " + describe(error)
        self.seed += 1
        start = time.perf_counter()
        job = self.client.submit(self.seed, 20, "any", api_name="/digits_generate")
        try:
            job.result(timeout=PROBE_TIMEOUT_S)
        except BaseException as error:  # noqa: BLE001 - a timeout or an error: a failed probe
            if isinstance(error, KeyboardInterrupt):
                raise
            job.cancel()
            self.client = None
            return None, describe(error) or type(error).__name__
        return time.perf_counter() - start, None


class Probes:
    def __init__(self, t0: float | None = None):
        self.t0 = time.perf_counter() if t0 is None else t0
        self.times: dict[str, list[float]] = {"config": [], "digits_generate": []}
        self.errors: dict[str, dict[str, int]] = {"config": {}, "digits_generate": {}}
        self.events: list[tuple] = []  # (s since t0, endpoint, seconds or None, error or None)
        self.rounds = 0

    def take(self, prober: Prober) -> None:
        self.rounds += 1
        for name, probe in (("config", prober.config), ("digits_generate", prober.digits)):
            at = time.perf_counter() - self.t0
            seconds, error = probe()
            self.events.append((round(at, 3), name, seconds, error))
            if error is None:
                self.times[name].append(seconds)
            else:
                self.errors[name][error] = self.errors[name].get(error, 0) + 1

    def failed(self, name: str) -> int:
        return sum(self.errors[name].values())

    def as_dict(self) -> dict:
        out = {"rounds": self.rounds, "events": self.events}
        for name in self.times:
            out[name] = summary(self.times[name]) | {"failed": self.failed(name), "errors": self.errors[name],
                                                     "values": self.times[name]}
        return out


# ---------------------------------------------------------------- heavy work


def make_crop(tmp: Path, root: Path) -> Path:
    from PIL import Image

    source = root / PHOTO if (root / PHOTO).exists() else REPO / PHOTO
    image = Image.open(source).convert("RGB")
    left, top = (image.width - CROP) // 2, (image.height - CROP) // 2
    path = tmp / f"chelsea-{CROP}.png"
    image.crop((left, top, left + CROP, top + CROP)).save(path)
    return path


def running(job) -> bool:
    from gradio_client.utils import Status

    try:
        return job.done() or job.status().code in (Status.PROCESSING, Status.PROGRESS, Status.ITERATING)
    except Exception:  # noqa: BLE001
        return False


def heavy_phase(url: str, photo: Path, clients: int, probes: int, interval: float, timeout_s: float,
                downloads: Path, prober: Prober) -> dict:
    from gradio_client import handle_file

    heavy_clients = [client(url, downloads) for _ in range(clients)]
    results: list[dict] = [{} for _ in range(clients)]
    t0 = time.perf_counter()

    def run(index: int, session) -> None:
        submitted = time.perf_counter()
        job = session.submit(handle_file(str(photo)), "realesrgan_x4plus", "none", 32, api_name="/restore_image")
        jobs[index] = job
        try:
            output = job.result(timeout=timeout_s)
            status = output[-1] if isinstance(output, (list, tuple)) else output
            results[index] = {"ok": True, "seconds": time.perf_counter() - submitted,
                              "end": time.perf_counter() - t0, "status": str(status)[:200]}
        except Exception as error:  # noqa: BLE001
            results[index] = {"ok": False, "seconds": time.perf_counter() - submitted,
                              "end": time.perf_counter() - t0, "error": describe(error)}

    jobs: list = [None] * clients
    pool = concurrent.futures.ThreadPoolExecutor(clients)
    futures = [pool.submit(run, i, c) for i, c in enumerate(heavy_clients)]

    # Probe once a heavy job is running (not merely queued).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(j is not None and running(j) for j in jobs):
        time.sleep(0.2)
    started_after = time.perf_counter() - t0
    taken = Probes(t0)
    while taken.rounds < probes and not all(f.done() for f in futures):
        round_start = time.perf_counter()
        taken.take(prober)
        time.sleep(max(0.0, interval - (time.perf_counter() - round_start)))
    probes_end = time.perf_counter() - t0
    concurrent.futures.wait(futures)
    pool.shutdown()
    wall = max((r["end"] for r in results), default=0.0)
    done = [r for r in results if r.get("ok")]
    return {
        "probes": taken.as_dict(),
        "probing_started_after_s": started_after,
        "probing_ended_at_s": probes_end,
        "jobs": results,
        "completed": len(done),
        "failed": clients - len(done),
        "wall_s": wall,
        "jobs_per_minute": len(done) / wall * 60 if wall and done else 0.0,
        "wall_s_per_job": wall / len(done) if done else None,
        "mean_latency_s": statistics.mean(r["seconds"] for r in done) if done else None,
    }


def vintage_phase(url: str, root: Path, count: int, downloads: Path) -> dict:
    from gradio_client import handle_file

    source = root / PHOTO if (root / PHOTO).exists() else REPO / PHOTO
    session = client(url, downloads)
    seconds, errors = [], []
    for _ in range(count):
        start = time.perf_counter()
        try:
            session.predict("vintage", handle_file(str(source)), api_name="/translate_image")
            seconds.append(time.perf_counter() - start)
        except Exception as error:  # noqa: BLE001
            errors.append(describe(error))
    return {"seconds": seconds, "errors": errors,
            "mean_s": statistics.mean(seconds) if seconds else None,
            "first_s": seconds[0] if seconds else None,
            "mean_after_first_s": statistics.mean(seconds[1:]) if len(seconds) > 1 else None}


# ---------------------------------------------------------------- the run


def machine() -> dict:
    return {"nproc": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "loadavg": os.getloadavg()}


def git_commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--root", type=Path, default=REPO, help="checkout whose app.py to start (default: this one)")
    where.add_argument("--url", help="benchmark a server that already runs at this URL instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, for memory (default: the port's listener, if visible)")
    parser.add_argument("--probes", type=int, default=20, help="probes of each light endpoint, idle and during heavy jobs (default 20)")
    parser.add_argument("--probe-interval", type=float, default=1.0, help="seconds between probe rounds during heavy jobs (default 1)")
    parser.add_argument("--heavy", type=int, default=2, help="concurrent heavy clients, one Real-ESRGAN x4plus job each (default 2)")
    parser.add_argument("--vintage", type=int, default=4, help="sequential vintage /translate_image calls (default 4)")
    parser.add_argument("--workers", help="GAN_GALLERY_WORKERS for the started server (default: unset, the server's own default)")
    parser.add_argument("--heavy-timeout", type=float, default=900, help="seconds a heavy job may take (default 900)")
    parser.add_argument("--setup-timeout", type=float, default=300, help="seconds to wait for the imports and a quiet server")
    parser.add_argument("--json", type=Path, help="also write every number (and the raw probe times) here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server log, cache)")
    args = parser.parse_args(argv)

    at_start = machine()
    run_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    downloads = tmp / "downloads"
    downloads.mkdir()
    root = args.root.resolve()
    print(f"# python -m bench.serving {' '.join(sys.argv[1:] if argv is None else argv)}", flush=True)
    print(f"# nproc {at_start['nproc']} (usable {at_start['affinity']}), load average at start "
          f"{at_start['loadavg'][0]:.2f} {at_start['loadavg'][1]:.2f} {at_start['loadavg'][2]:.2f}", flush=True)
    process = None
    sampler = None
    report: dict = {"machine_at_start": at_start, "args": {k: str(v) for k, v in vars(args).items()}}
    try:
        if args.url:
            url = args.url if args.url.endswith("/") else args.url + "/"
            pid = args.pid or listening_pid(url)
            report.update(target=url, startup_s=None)
            cache = None
        else:
            process, url, startup = start_gallery(root, tmp, args.workers)
            pid = process.pid
            report.update(target=f"{root} @ {git_commit(root)}", startup_s=startup)
            cache = tmp / "cache"
            print(f"# started {url} from {root} in {startup:.1f} s; waiting for the offline imports", flush=True)
        if pid is not None:
            sampler = RssSampler(pid)
            sampler.start()
        ready_s, files_ok, note = wait_until_ready(cache, pid, args.setup_timeout)
        report.update(ready_s=ready_s, ready_files=files_ok, ready_note=note)
        print(f"# ready after {ready_s:.1f} s more{'' if files_ok else ' (imported checkpoints NOT seen in the cache)'}"
              f"{'; ' + note if note else ''}", flush=True)

        prober = Prober(url, downloads)
        prober.config(), prober.digits()  # warm-up: the digits weights load on the first call
        idle = Probes()
        for _ in range(args.probes):
            idle.take(prober)
        report["idle"] = idle.as_dict()
        print(f"# idle probes done; starting {args.heavy} heavy jobs", flush=True)

        photo = make_crop(tmp, root)
        heavy = heavy_phase(url, photo, args.heavy, args.probes, args.probe_interval, args.heavy_timeout,
                            downloads, prober)
        report["heavy"] = heavy
        print(f"# heavy jobs done ({heavy['completed']} of {args.heavy}); {args.vintage} vintage translations", flush=True)
        report["vintage"] = vintage_phase(url, root, args.vintage, downloads)
        if sampler is not None:
            sampler.sample()
            report["workers_seen"] = len(sampler.worker_pids())
    except BaseException:
        log = tmp / "server.log"
        if log.exists():
            print(f"server log (last 3000 characters; all of it in {log}):\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        if sampler is not None:
            sampler.stop()
        if process is not None:
            stop_gallery(process, sampler.seen if sampler else set())
    at_end = machine()
    report["machine_at_end"] = at_end
    report["run_s"] = time.perf_counter() - run_start
    if sampler is not None:
        report["rss_mib"] = {"server_peak": sampler.server_peak / MIB,
                             "workers_peak_sum": sum(sampler.worker_peaks.values()) / MIB,
                             "worker_peaks": {str(k): v / MIB for k, v in sampler.worker_peaks.items()},
                             "tree_peak": sampler.tree_peak / MIB, "samples": sampler.samples}

    idle, heavy, vintage = report["idle"], report["heavy"], report["vintage"]
    hp = heavy["probes"]
    rows = [
        ("target", report["target"]),
        ("nproc / load average at start (1, 5, 15 min)",
         f"{at_start['nproc']} / {at_start['loadavg'][0]:.2f} {at_start['loadavg'][1]:.2f} {at_start['loadavg'][2]:.2f}"),
        ("load average at end", f"{at_end['loadavg'][0]:.2f} {at_end['loadavg'][1]:.2f} {at_end['loadavg'][2]:.2f}"),
        ("page answered after launch", f"{report['startup_s']:.1f} s" if report["startup_s"] is not None else "-"),
        ("then imports done and server quiet", f"{report['ready_s']:.1f} s"),
        ("worker processes seen", str(report.get("workers_seen", "-"))),
        (f"idle GET /config ({args.probes} probes)",
         fmt_latency(idle["config"], idle["config"]["failed"], idle["rounds"])),
        (f"idle /digits_generate ({args.probes} probes)",
         fmt_latency(idle["digits_generate"], idle["digits_generate"]["failed"], idle["rounds"])),
        (f"during heavy: GET /config ({hp['rounds']} probes)",
         fmt_latency(hp["config"], hp["config"]["failed"], hp["rounds"])),
        (f"during heavy: /digits_generate ({hp['rounds']} probes)",
         fmt_latency(hp["digits_generate"], hp["digits_generate"]["failed"], hp["rounds"])),
        ("probing window (s after first heavy submit)",
         f"{heavy['probing_started_after_s']:.1f} to {heavy['probing_ended_at_s']:.1f} s"),
        (f"heavy: {args.heavy} x Real-ESRGAN x4plus 256² (distinct sessions)",
         f"{heavy['completed']} done, {heavy['failed']} failed, last result after {heavy['wall_s']:.1f} s"),
        ("heavy: jobs per minute", f"{heavy['jobs_per_minute']:.2f}"),
        ("heavy: wall seconds per job / mean latency per job",
         f"{heavy['wall_s_per_job']:.1f} s / {heavy['mean_latency_s']:.1f} s" if heavy["completed"] else "-"),
        ("heavy: each job's latency (server's own time)", ", ".join(
            f"{r['seconds']:.1f} s" + (f" ({done.group(1)} s)" if (done := re.search(r"Done in ([\d.]+) s", r.get("status", ""))) else "")
            + ("" if r.get("ok") else " (failed)") for r in heavy["jobs"])),
        (f"vintage /translate_image, {args.vintage} sequential",
         (f"mean {vintage['mean_s']:.2f} s (first {vintage['first_s']:.2f} s, then mean "
          f"{vintage['mean_after_first_s']:.2f} s)" if vintage["mean_after_first_s"] is not None else
          (f"{vintage['mean_s']:.2f} s" if vintage["mean_s"] is not None else "-"))
         + (f"; {len(vintage['errors'])} failed" if vintage["errors"] else "")),
    ]
    if "rss_mib" in report:
        rss = report["rss_mib"]
        rows += [
            ("peak RSS: server process", f"{rss['server_peak']:.0f} MiB"),
            (f"peak RSS: workers (sum of {len(rss['worker_peaks'])} peaks)", f"{rss['workers_peak_sum']:.0f} MiB"),
            ("peak RSS: whole process tree", f"{rss['tree_peak']:.0f} MiB"),
        ]
    else:
        rows.append(("peak RSS", "- (server pid unknown: pass --pid)"))
    rows.append(("whole benchmark", f"{report['run_s']:.0f} s"))
    print("\n| metric | value |\n|---|---|")
    for metric, value in rows:
        print(f"| {metric} | {value} |")
    for r in heavy["jobs"]:
        if not r.get("ok"):
            print(f"heavy job failed: {r.get('error')}")
    for error in vintage["errors"]:
        print(f"vintage call failed: {error}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
        print(f"\nwrote {args.json}")
    if args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
