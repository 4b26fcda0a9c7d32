import pytest

from engine.bench.serve import run_serve_bench
from engine.errors import LatentLabError


def test_short_load_run_has_no_failures_and_reports_everything():
    result = run_serve_bench(clients=3, seconds=2, endpoint="list_models", device="cpu")
    assert result.failures == 0, result.first_error
    assert result.requests >= 3
    assert 0 < result.latency_ms_p50 <= result.latency_ms_p99 <= result.latency_ms_max
    assert result.rss_mb_before and result.rss_mb_after


def test_refuses_non_loopback_targets_and_unknown_endpoints():
    with pytest.raises(LatentLabError, match="loopback"):
        run_serve_bench(url="http://10.1.2.3:7860/", seconds=1)
    with pytest.raises(LatentLabError, match="unknown endpoint"):
        run_serve_bench(endpoint="nope", seconds=1)
