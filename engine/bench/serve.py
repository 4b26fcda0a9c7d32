"""``latentlab bench serve``: concurrent clients against a local server, loopback only.

Starts ``latentlab serve`` in its own process on a free 127.0.0.1 port (or targets ``--url``, which must be
a loopback address), runs ``clients`` threads in this process that each call one API endpoint in a loop for
``seconds``, and reports requests, failures, latency percentiles and the server process's resident memory
(its own, not the clients'): before (after a warm-up call), at its peak during the run, and after. Every
request has a timeout, the server's queue is bounded, and the run ends by itself, stopping the server.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import numpy as np

from ..core.errors import LatentLabError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ASSETS = Path(__file__).resolve().parents[2] / "assets"
STARTUP_TIMEOUT = 300.0  # seconds for the server process to answer (imports and model loading on a busy machine)
SAMPLE_EVERY = 0.5  # seconds between samples of the server's memory during the run


@dataclass
class Workload:
    """One endpoint and how to build its arguments (``client`` -> positional args)."""

    api_name: str
    args: Callable[[], list[Any]] = field(default=lambda: [])
    description: str = ""


def workloads() -> dict[str, Workload]:
    """The endpoints the benchmark knows how to drive, lightest first."""
    from engine.core.checkpoint import list_checkpoints

    examples = sorted(p.stem for p in (ASSETS / "melodies").glob("*.mid"))
    table = {"list_models": Workload("/list_models", description="the About tab's model table (no model call)")}
    if len(examples) >= 2 and any(m.name == "mel_2bar" for m in list_checkpoints(kind="melody")):
        # Melodies tab: (upload A, upload B, example A, example B, model, steps, temperature, method)
        table["interpolate"] = Workload(
            "/interpolate",
            lambda: [None, None, examples[0], examples[1], "mel_2bar", 5, 0.0, "slerp"],
            "a 5-step mel_2bar interpolation between two bundled examples (piano roll, audio, MIDI)",
        )
    return table


@dataclass
class ServeBenchResult:
    endpoint: str
    clients: int
    seconds: float
    requests: int
    failures: int
    requests_per_s: float
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_p99: float
    latency_ms_max: float
    rss_mb_before: float | None
    rss_mb_after: float | None
    first_error: str | None = None
    rss_mb_peak: float | None = None
    server_pid: int | None = None  # the server process measured (None: an external --url server)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (None once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024  # kB
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:  # no /proc (macOS): psutil, when installed
        import psutil

        return psutil.Process(pid).memory_info().rss / 2**20
    except Exception:
        return None


class ServerProcess:
    """``latentlab serve`` on a free loopback port in a child process, its output in a temporary log."""

    def __init__(self, device: str | None, startup_timeout: float = STARTUP_TIMEOUT):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/"
        self._log = tempfile.NamedTemporaryFile(prefix="latentlab-bench-serve-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "engine.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if device:
            command += ["--device", device]
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.pid = self.process.pid
        try:
            self._wait_ready(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise LatentLabError(f"the server exited with status {self.process.returncode}: {self._tail()}")
            try:
                with opener.open(self.url + "config", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise LatentLabError(f"the server did not answer within {timeout:.0f} s: {self._tail()}")

    def _tail(self, lines: int = 5) -> str:
        text = Path(self._log.name).read_text(encoding="utf-8", errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def rss_mb(self) -> float | None:
        return rss_mb(self.pid)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s) and remove its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def run_serve_bench(
    clients: int = 16,
    seconds: float = 60.0,
    endpoint: str = "list_models",
    url: str | None = None,
    device: str | None = "cpu",
    request_timeout: float = 120.0,
    startup_timeout: float = STARTUP_TIMEOUT,
) -> ServeBenchResult:
    """Drive ``clients`` concurrent clients for ``seconds`` against the app; see the module docstring."""
    from gradio_client import Client

    table = workloads()
    if endpoint not in table:
        raise LatentLabError(f"unknown endpoint {endpoint!r}: choose one of {', '.join(table)}")
    if not 1 <= clients <= 256:
        raise LatentLabError("--clients must be between 1 and 256")
    if not 0 < seconds <= 3600:
        raise LatentLabError("--seconds must be between 0 and 3600")
    if url is not None and urlparse(url).hostname not in LOOPBACK:
        raise LatentLabError(f"bench serve only targets loopback addresses (127.0.0.1, localhost, ::1), not {url}")
    work = table[endpoint]
    server = ServerProcess(device, startup_timeout) if url is None else None
    url = server.url if server else url

    def rss() -> float | None:
        return server.rss_mb() if server else None

    try:
        warm = Client(url, verbose=False)
        warm.predict(*work.args(), api_name=work.api_name)
        before = rss()
        latencies: list[float] = []
        failures = [0]
        first_error: list[str] = []
        samples: list[float] = [before] if before else []
        lock = threading.Lock()
        clock = {"start": 0.0, "deadline": 0.0}
        done = threading.Event()

        def start_clock() -> None:  # runs once, when every client is connected
            clock["start"] = time.monotonic()
            clock["deadline"] = clock["start"] + seconds

        ready = threading.Barrier(clients + 1, action=start_clock, timeout=request_timeout)

        def worker() -> None:
            client = Client(url, verbose=False)
            ready.wait()
            while time.monotonic() < clock["deadline"]:
                start = time.monotonic()
                try:
                    job = client.submit(*work.args(), api_name=work.api_name)
                    job.result(timeout=request_timeout)
                    ok, error = True, None
                except Exception as e:  # every failure counts, whatever its type
                    ok, error = False, f"{type(e).__name__}: {e}"
                elapsed = time.monotonic() - start
                with lock:
                    if ok:
                        latencies.append(elapsed)
                    else:
                        failures[0] += 1
                        if not first_error and error:
                            first_error.append(error[:300])

        def sampler() -> None:
            while not done.wait(SAMPLE_EVERY):
                value = rss()
                if value:
                    samples.append(value)

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        watcher = threading.Thread(target=sampler, daemon=True)
        if server:
            watcher.start()
        ready.wait()
        for t in threads:
            t.join(timeout=seconds + request_timeout + 30)
        wall = time.monotonic() - clock["start"]
        done.set()
        after = rss()
        if after:
            samples.append(after)
    finally:
        if server is not None:
            server.stop()
    lat = np.array(latencies or [float("nan")]) * 1000
    return ServeBenchResult(
        endpoint=work.api_name,
        clients=clients,
        seconds=round(wall, 2),
        requests=len(latencies) + failures[0],
        failures=failures[0],
        requests_per_s=round((len(latencies) + failures[0]) / wall, 2),
        latency_ms_p50=round(float(np.percentile(lat, 50)), 1),
        latency_ms_p90=round(float(np.percentile(lat, 90)), 1),
        latency_ms_p99=round(float(np.percentile(lat, 99)), 1),
        latency_ms_max=round(float(np.max(lat)), 1),
        rss_mb_before=round(before, 1) if before else None,
        rss_mb_after=round(after, 1) if after else None,
        first_error=first_error[0] if first_error else None,
        rss_mb_peak=round(max(samples), 1) if samples else None,
        server_pid=server.pid if server else None,
    )


def format_result(result: ServeBenchResult) -> str:
    r = result
    mem = (
        f"server process {r.server_pid} RSS: {r.rss_mb_before:.0f} MB before, {r.rss_mb_peak:.0f} MB peak, "
        f"{r.rss_mb_after:.0f} MB after ({r.rss_mb_after - r.rss_mb_before:+.0f} MB)"
        if r.rss_mb_before is not None and r.rss_mb_after is not None and r.rss_mb_peak is not None
        else "server memory: not measured (external server)"
    )
    lines = [
        f"endpoint {r.endpoint}: {r.clients} clients for {r.seconds:.0f} s",
        f"requests {r.requests} ({r.requests_per_s:.1f}/s), failures {r.failures}",
        f"latency ms: p50 {r.latency_ms_p50:.0f}, p90 {r.latency_ms_p90:.0f}, p99 {r.latency_ms_p99:.0f}, max {r.latency_ms_max:.0f}",
        mem,
    ]
    if r.first_error:
        lines.append(f"first error: {r.first_error}")
    return "\n".join(lines)


def result_json(result: ServeBenchResult) -> str:
    return json.dumps(asdict(result))
