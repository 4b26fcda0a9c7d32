"""``latentlab bench serve``: concurrent clients against a local server, loopback only.

Launches the app in this process on a free 127.0.0.1 port (or targets ``--url``, which must be a
loopback address), runs ``clients`` threads that each call one API endpoint in a loop for
``seconds``, and reports requests, failures, latency percentiles and the server's resident memory
before (after a warm-up call) and after. Every request has a timeout, and the run ends by itself.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import numpy as np

from ..errors import LatentLabError

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ASSETS = Path(__file__).resolve().parents[2] / "assets"


@dataclass
class Workload:
    """One endpoint and how to build its arguments (``client`` -> positional args)."""

    api_name: str
    args: Callable[[], list[Any]] = field(default=lambda: [])
    description: str = ""


def workloads() -> dict[str, Workload]:
    """The endpoints the benchmark knows how to drive, lightest first."""
    from engine.checkpoint import list_checkpoints

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_serve_bench(
    clients: int = 16,
    seconds: float = 60.0,
    endpoint: str = "list_models",
    url: str | None = None,
    device: str | None = "cpu",
    request_timeout: float = 120.0,
) -> ServeBenchResult:
    """Drive ``clients`` concurrent clients for ``seconds`` against the app; see the module docstring."""
    import psutil
    from gradio_client import Client

    table = workloads()
    if endpoint not in table:
        raise LatentLabError(f"unknown endpoint {endpoint!r}: choose one of {', '.join(table)}")
    if not 1 <= clients <= 256:
        raise LatentLabError("--clients must be between 1 and 256")
    if not 0 < seconds <= 3600:
        raise LatentLabError("--seconds must be between 0 and 3600")
    work = table[endpoint]
    demo = None
    process = None
    if url is None:
        from app.main import launch

        port = _free_port()
        demo = launch(port=port, device=device, block=False)
        url = f"http://127.0.0.1:{port}/"
        process = psutil.Process()
    elif urlparse(url).hostname not in LOOPBACK:
        raise LatentLabError(f"bench serve only targets loopback addresses (127.0.0.1, localhost, ::1), not {url}")

    def rss() -> float | None:
        return process.memory_info().rss / 2**20 if process else None

    try:
        warm = Client(url, verbose=False)
        warm.predict(*work.args(), api_name=work.api_name)
        before = rss()
        latencies: list[float] = []
        failures = [0]
        first_error: list[str] = []
        lock = threading.Lock()
        clock = {"start": 0.0, "deadline": 0.0}

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

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        ready.wait()
        for t in threads:
            t.join(timeout=seconds + request_timeout + 30)
        wall = time.monotonic() - clock["start"]
        after = rss()
    finally:
        if demo is not None:
            demo.close()
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
    )


def format_result(result: ServeBenchResult) -> str:
    r = result
    mem = (
        f"server RSS {r.rss_mb_before:.0f} MB -> {r.rss_mb_after:.0f} MB"
        if r.rss_mb_before is not None else "server memory: not measured (external server)"
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
