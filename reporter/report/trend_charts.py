"""The charts of the AI and usage trends (``Report.trends``), by name, for the report's template: every one made by
:mod:`reporter.report.charts` (so through ``charts._svg``, like every chart of the report).

Names: ``ai_requests`` (requests per bucket, bars), ``ai_times`` (p50 and p95 response time per bucket, lines),
``ai_rates`` (success rate, cache hit rate and model availability per bucket, lines), ``usage_active`` (daily
active users, bars; weekly and monthly reports only). A chart without any data is left out.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from markupsafe import Markup

from reporter.report.model import Report
from reporter.report.trends import AIBucket


def _mid(bucket: AIBucket) -> datetime:
    return bucket.start + (bucket.end - bucket.start) / 2


def trend_charts(report: Report, tz: ZoneInfo) -> dict[str, Markup]:
    """The trend charts of ``report`` by name (none when it has no trends or no data)."""
    from reporter.report.charts import bucket_chart, lines_chart  # matplotlib is imported only when rendering

    trends = report.trends
    if trends is None or report.empty:
        return {}
    charts: dict[str, Markup] = {}
    ai, per = trends.ai, trends.ai.bucket
    start, end = report.start, report.midnight
    if any(b.requests is not None for b in ai.buckets):
        charts["ai_requests"] = Markup(bucket_chart([(b.start, b.end, b.requests) for b in ai.buckets],
                                                    label=f"AI requests per {per}", start=start, end=end, tz=tz))
    if any(b.p95 is not None for b in ai.buckets):
        charts["ai_times"] = Markup(lines_chart(
            [("p50", [(_mid(b), b.p50) for b in ai.buckets]), ("p95", [(_mid(b), b.p95) for b in ai.buckets])],
            label=f"Response time per {per} (s)", unit=" s", ymax=None, title_left=True, start=start, end=end, tz=tz))
    if any(b.success_rate is not None or b.model_availability is not None for b in ai.buckets):
        charts["ai_rates"] = Markup(lines_chart(
            [("success", [(_mid(b), b.success_rate) for b in ai.buckets]),
             ("cache hits", [(_mid(b), b.cache_hit_rate) for b in ai.buckets]),
             ("model available", [(_mid(b), b.model_availability) for b in ai.buckets])],
            label=f"Rates per {per} (%)", title_left=True, start=start, end=end, tz=tz))
    usage = trends.usage
    if usage is not None and report.period.kind != "day" and any(d.active_users is not None for d in usage.days):
        days = [(*_day_bounds(d.day, report.timezone), d.active_users) for d in usage.days]
        charts["usage_active"] = Markup(bucket_chart(days, label="Active users (24 h) at the end of each day",
                                                     start=start, end=end, tz=tz))
    return charts


def _day_bounds(day, timezone: str) -> tuple[datetime, datetime]:
    from reporter.report.period import Period

    period = Period.day(day, timezone)
    return period.start, period.end
