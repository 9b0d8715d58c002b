"""The default rules watching the AI service itself (issue 13), as rule definitions merged into
:func:`reporter.alerting.rules.default_rules`:

- ``model_cpu_fallback``: a threshold rule on ``services.ollama.model_cpu_offload_ratio`` (> 0 for 5 minutes,
  critical), guarded by ``services.ollama.model_loaded`` (``min_count = 1``) with ``min_count_missing =
  "false"``: a model not loaded, or not known to be (Ollama down, ``/api/ps`` unreadable), is no alert and no
  ``no_data``; a loaded model whose ratio is unreadable is missing data.
- ``ai_throughput_drop``: kind ``throughput_drop`` (:mod:`reporter.alerting.throughput`).
- ``model_cold_loads``: kind ``increase`` (:mod:`reporter.alerting.increase`) over the probe's
  ``ollama_model_loads`` counter.
"""

from __future__ import annotations


def ai_service_rules(window: str) -> dict[str, dict]:
    """The three rules by name; ``window``: the snapshot path of the AI window they read (``ai.windows.5m``)."""
    return {
        "model_cpu_fallback": dict(metric="services.ollama.model_cpu_offload_ratio", op=">", threshold=0,
                                   min_count_metric="services.ollama.model_loaded", min_count=1,
                                   min_count_missing="false",
                                   **{"for": "5m"}, severity="critical",
                                   summary="Model running partly on the CPU on {host}",
                                   description="Ollama holds the configured model with a share of {value} outside "
                                               "GPU memory (1 - size_vram / size, fires above {threshold}): it "
                                               "runs (partly) on the CPU, many times slower; check the GPU driver "
                                               "and the GPU's free memory."),
        "ai_throughput_drop": dict(kind="throughput_drop", metric=f"{window}.tokens_per_second", factor=0.5,
                                   baseline="7d", min_range="24h",
                                   min_count_metric=f"{window}.requests", min_count=10, severity="warning",
                                   summary="AI throughput dropped to {value} tokens/s",
                                   description="The model generated {value} tokens/s over 5 minutes, below {limit} "
                                               "tokens/s (factor x the 7-day median of {baseline} tokens/s)."),
        "model_cold_loads": dict(kind="increase", metric="ollama_model_loads", window="1h", op=">", threshold=3,
                                 severity="warning", summary="Model loaded {value} times in {window}",
                                 description="Ollama loaded the configured model {value} times in the last "
                                             "{window} (fires above {threshold}): each cold load makes a request "
                                             "wait for it; raise Ollama's keep_alive (OLLAMA_KEEP_ALIVE)."),
    }
