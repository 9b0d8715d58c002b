"""Default Jinja2 templates (installed as ``reporter.templates``); REPORTER_REPORT_TEMPLATES overrides them."""
