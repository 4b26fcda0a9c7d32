"""``latentlab bench serve``: a short load run against the app in its own process."""

import os

import pytest

from engine.bench.serve import format_result, result_json, rss_mb, run_serve_bench
from engine.core.errors import LatentLabError


def test_short_load_run_measures_the_server_process():
    result = run_serve_bench(clients=2, seconds=3, endpoint="list_models", device="cpu")
    assert result.failures == 0, result.first_error
    assert result.requests > 0
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p99 <= result.latency_ms_max
    # the memory is the server's own process, which has been stopped by the end of the run
    assert result.server_pid and result.server_pid != os.getpid()
    assert rss_mb(result.server_pid) is None
    assert 0 < result.rss_mb_before <= result.rss_mb_peak and 0 < result.rss_mb_after <= result.rss_mb_peak
    text = format_result(result)
    assert f"server process {result.server_pid} RSS" in text and "failures 0" in text
    assert '"rss_mb_before"' in result_json(result) and '"requests"' in result_json(result)


def test_rss_of_this_process_and_of_no_process():
    assert rss_mb(os.getpid()) > 10
    assert rss_mb(2**22 + 1) is None  # above Linux's largest pid


def test_refuses_non_loopback_targets_and_unknown_endpoints():
    with pytest.raises(LatentLabError, match="loopback"):
        run_serve_bench(url="http://10.1.2.3:7860/", seconds=1)
    with pytest.raises(LatentLabError, match="unknown endpoint"):
        run_serve_bench(endpoint="nope", seconds=1)
