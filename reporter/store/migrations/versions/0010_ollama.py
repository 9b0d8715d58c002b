"""samples: the configured model as Ollama holds it, the synthetic probe, and each feature's token counters

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

Frozen: the column names and types are written out here (no import of the live catalog or schema). Fixed
columns: the configured model's residency from ``GET /api/ps`` (loaded, CPU-offload ratio x 10000, size and
VRAM bytes, loads seen), the synthetic probe's time to first token (s x 1000) and tokens per second (x 100).
Per feature already stored (found by its ``ai_<feature>_requests`` column): the optional token counters
``ai_<feature>_prompt_tokens``, ``_completion_tokens``, ``_generation_seconds`` (s x 10^6) and ``_cold_loads``;
features configured later get them from the feature column step, whose set this revision extends. Existing
rows keep their values; the new columns are NULL (missing) in them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FIXED = ("ollama_model_loaded", "ollama_model_cpu_offload_ratio", "ollama_model_size_bytes",
         "ollama_model_vram_bytes", "ollama_model_loads", "ollama_probe_first_token_seconds",
         "ollama_probe_tokens_per_second")
FEATURE_SUFFIXES = ("prompt_tokens", "completion_tokens", "generation_seconds", "cold_loads")


def upgrade() -> None:
    names = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("samples")]
    features = sorted({n[3:-9] for n in names if n.startswith("ai_") and n.endswith("_requests") and len(n) > 12
                       and n != "ai_total_requests"})
    added = [*FIXED, *(f"ai_{feature}_{suffix}" for feature in features for suffix in FEATURE_SUFFIXES)]
    for name in added:
        if name not in names:  # a feature column step of a newer program may have added it already
            op.add_column("samples", sa.Column(name, sa.BigInteger, nullable=True))


def downgrade() -> None:
    names = [c["name"] for c in sa.inspect(op.get_bind()).get_columns("samples")]
    drop = [n for n in names if n in FIXED or any(n.startswith("ai_") and n.endswith(f"_{s}")
                                                    for s in FEATURE_SUFFIXES)]
    with op.batch_alter_table("samples") as batch:
        for name in reversed(drop):
            batch.drop_column(name)
