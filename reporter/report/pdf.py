"""PDF of the daily report: WeasyPrint renders the report's HTML in a child process with a time limit.

WeasyPrint can take seconds and hundreds of MB on a big document and has crashed on some inputs, so it never runs
in the daemon's process: ``python -m reporter.report.pdf_child`` (a fresh interpreter, not a fork of a process with
threads) gets the HTML on stdin, writes a temporary file beside the target, and reports its time, peak RSS and the
font/CSS warnings on stdout. Here the temporary file is renamed onto the target (atomic), or removed on failure.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from reporter.report.files import new_file_mode
from reporter.report.lifeline import child_env, die_with_parent

STDERR_TAIL = 2000  # characters of the child's stderr in a PdfError


class PdfError(RuntimeError):
    """The PDF could not be rendered: the child timed out, crashed or failed (message has its stderr tail)."""


@dataclass
class PdfResult:
    """A rendered PDF: ``seconds`` is the wall time of the whole child (start-up included), ``peak_rss_bytes``
    the child's peak resident memory, ``warnings`` WeasyPrint's and fontTools' warnings (e.g. missing glyphs)."""

    path: Path
    seconds: float
    peak_rss_bytes: int
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    render_seconds: float = 0.0


def _tail(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL:] if text else "(no output on stderr)"


def _kill(process: subprocess.Popen) -> None:
    """Kill the child and anything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def render_pdf(html: str, path: str | os.PathLike, *, timeout: float = 120.0, nice: int = 5,
               python: str | None = None) -> PdfResult:
    """Render ``html`` (a self-contained document) to the PDF file ``path`` in a child process.

    The child is killed after ``timeout`` seconds. ``nice`` lowers its CPU priority so the daemon's sampling keeps
    its pace. The file appears atomically: a temporary file in the same folder is renamed onto ``path``.
    Raises :class:`PdfError` on timeout, crash or any failure of the child (with the tail of its stderr).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    temp = Path(temp_name)
    os.chmod(temp, new_file_mode())  # mkstemp's 0600 would stay on the report after the rename: honour the umask
    command = [python or sys.executable, "-m", "reporter.report.pdf_child", str(temp), "--nice", str(nice)]
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    started = time.perf_counter()
    try:
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=child_env(env), start_new_session=True, close_fds=True,
                                   preexec_fn=die_with_parent)
        try:
            out, err = process.communicate(html.encode("utf-8"), timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            _, err = process.communicate()
            raise PdfError(f"PDF rendering exceeded its time limit of {timeout:g} s and was killed; "
                           f"stderr: {_tail(err)}") from None
        except BaseException:
            _kill(process)
            process.communicate()
            raise
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
                   else f"exited with status {process.returncode}")
            raise PdfError(f"PDF rendering failed: the child {how}; stderr: {_tail(err)}")
        try:
            report = json.loads(out.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise PdfError(f"PDF rendering child gave no result ({exc}); stderr: {_tail(err)}") from None
        if temp.stat().st_size == 0:
            raise PdfError(f"PDF rendering child wrote an empty file; stderr: {_tail(err)}")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return PdfResult(path=target, seconds=seconds, peak_rss_bytes=int(report.get("peak_rss_bytes", 0)),
                     warnings=list(report.get("warnings", [])), pages=int(report.get("pages", 0)),
                     render_seconds=float(report.get("seconds", 0.0)))
