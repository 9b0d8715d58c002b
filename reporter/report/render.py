"""Render a report in one child process: the model, the HTML, the PDF and the CSV files of one period.

One process level: the daemon's report job and ``reporter report`` each start ``python -P -m
reporter.report.render_child`` per period, which does all of the rendering in its own process (WeasyPrint
included) and exits; the parent never imports WeasyPrint, so its memory does not keep it. The child

- dies with its parent (:mod:`reporter.report.lifeline`: ``PR_SET_PDEATHSIG`` set before exec, and a watch of
  the parent pid), so a SIGKILLed daemon leaves no renderer running;
- is bounded: it is killed (with anything it started: it leads its own process group) after ``timeout``
  seconds, and a timeout, a crash or a failure is a :class:`RenderError` with the reason and its stderr tail.

The request goes on the child's stdin as one JSON object (the settings, the period key and kind, the folder,
the formats, the host name, the CPU niceness and the inhibition rules in force); the answer is the last line of its
stdout, one JSON object (:func:`reporter.report.render_child.main` documents both).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reporter.alerting.inhibition import InhibitRule, rule_table
from reporter.report.lifeline import child_env, die_with_parent
from reporter.report.period import Period
from reporter.settings import Settings

log = logging.getLogger(__name__)
STDERR_TAIL = 2000  # characters of the child's stderr in a RenderError
CHILD_MODULE = "reporter.report.render_child"
FORMATS = ("html", "pdf")  # the formats a report is rendered in


class RenderError(RuntimeError):
    """A period's report could not be rendered. ``kind``: ``timeout`` (killed at its time limit), ``crash``
    (the child died or gave no answer), ``pdf`` (WeasyPrint failed), ``template`` (a broken override template),
    ``write`` (the folder cannot be written: the message names it) or ``failed`` (anything else). The message
    says why, with the tail of the child's stderr for a timeout or a crash."""

    def __init__(self, message: str, kind: str = "failed") -> None:
        super().__init__(message)
        self.kind = kind

    @property
    def reason(self) -> str:
        """One line for a log: the message without the stderr tail, plus the tail's last line when there is
        one (a crash's exception, say)."""
        head, _, tail = str(self).partition("; stderr: ")
        lines = [line for line in tail.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else ""
        return f"{head}: {last}" if last and last != "(no output on stderr)" else head


@dataclass(frozen=True)
class Produced:
    """The files written for one period, whether it had no data, and the PDF's figures (seconds, the render
    child's peak RSS in bytes, WeasyPrint's warnings) when one was rendered. ``stderr``: what the child printed
    there (log lines such as inconsistent-counter warnings)."""

    period: Period
    files: list[Path]
    empty: bool
    pdf_seconds: float | None = None
    pdf_peak_rss_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    stderr: str = ""


def _tail(data: bytes | None) -> str:
    text = (data or b"").decode("utf-8", "replace").strip()
    return text[-STDERR_TAIL:] if text else "(no output on stderr)"


def kill(process: subprocess.Popen) -> None:
    """Kill the child and anything it started (it leads its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def render_in_child(settings: Settings, period: Period, out_dir: Path, formats: tuple[str, ...], *,
                    timeout: float, nice: int = 5, host: str | None = None, python: str | None = None,
                    inhibit_rules: Sequence[InhibitRule] | None = None,
                    started: Callable[[subprocess.Popen | None], None] | None = None) -> Produced:
    """Render the report of ``period`` into ``out_dir`` in ``formats`` (``html``/``pdf``; the capped lists'
    CSV files always) in one child process with ``settings``, killed after ``timeout`` seconds. ``nice`` lowers
    the child's CPU priority so sampling and HTTP answers keep their pace; ``host`` is the name in the report
    (default this machine's); ``python`` the interpreter (default this one); ``inhibit_rules`` the inhibition rules
    in force (the alerting configuration's), which mark the inhibited alert episodes (None: the built-in ones).
    ``started`` is called with the child once it runs and with None once it has ended (the daemon's report job
    kills it at shutdown: :func:`kill`).

    Returns :class:`Produced`; raises :class:`RenderError` on a timeout, a crash or a failure of the child.
    """
    request: dict[str, object] = {"settings": settings.model_dump(mode="json"), "period": period.key, "kind": period.kind,
               "out": str(Path(out_dir).resolve()), "formats": list(formats), "host": host, "nice": nice}
    if inhibit_rules is not None:
        request["inhibit_rules"] = [rule_table(rule) for rule in inhibit_rules]
    # -P: the child imports the installed package, not a ``reporter/`` folder in the working directory
    command = [python or sys.executable, "-P", "-m", CHILD_MODULE]
    env = child_env({**os.environ, "PYTHONIOENCODING": "utf-8"})
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, start_new_session=True, close_fds=True, preexec_fn=die_with_parent)
    if started is not None:
        started(process)
    try:
        out, err = process.communicate(json.dumps(request).encode("utf-8"), timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process)
        _, err = process.communicate()
        raise RenderError(f"rendering exceeded its time limit of {timeout:g} s and was killed; "
                          f"stderr: {_tail(err)}", "timeout") from None
    except BaseException:
        kill(process)
        process.communicate()
        raise
    finally:
        if started is not None:
            started(None)
    try:
        answer = json.loads(out.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = None
    if not isinstance(answer, dict):
        how = (f"was killed by signal {-process.returncode}" if process.returncode < 0
               else f"exited with status {process.returncode}")
        raise RenderError(f"rendering failed: the child {how}" + (" without an answer" if not process.returncode
                                                                   else "") + f"; stderr: {_tail(err)}", "crash")
    if "error" in answer:
        raise RenderError(str(answer["error"]), str(answer.get("kind", "failed")))
    return Produced(period, [Path(p) for p in answer["files"]], bool(answer["empty"]), answer.get("pdf_seconds"),
                    answer.get("pdf_peak_rss_bytes"), list(answer.get("warnings", [])),
                    (err or b"").decode("utf-8", "replace"))
