"""The daemon: wires sampling, history and the HTTP endpoint; handles signals.

uvicorn's ``--reload`` supervisor imports watchfiles (~1 MB resident: a Rust extension and its file watching)
whenever it is installed, though the daemon never reloads. It is marked absent here, before the daemon's modules
first import uvicorn, so uvicorn falls back to its stat-based supervisor (which the daemon never starts either).
"""

import sys

sys.modules.setdefault("watchfiles", None)  # type: ignore[arg-type]
