"""The "Timbre" tab (its capability is not built yet)."""

from __future__ import annotations

from ..common import AppContext, missing_model_notice


def build(ctx: AppContext) -> None:
    missing_model_notice("Timbre", "latentlab train timbre")
