"""HTTP API: answers from memory (the latest snapshot, serialised once per sample)."""
