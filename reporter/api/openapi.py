"""The OpenAPI 3.1 document served at ``/openapi.json``: every endpoint, its parameters and answers.

Hand-written (the endpoints are raw ASGI and Starlette functions, not a framework that infers schemas); the
snapshot's schemas come from the pydantic models, so they cannot drift from what is served. Built once per
app: it names the configured AI features and declares the bearer token only when one is required.
"""

from __future__ import annotations

from typing import Any

from reporter.ai_usage import MAX_GENERATION_NS, MAX_RESPONSE_TIME_SECONDS, MAX_TOKENS
from reporter.api.views import SEED_FEATURE_FIELDS
from reporter.snapshot import ActiveAlert, Snapshot

REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _nullable(kind: str, **extra) -> dict:
    return {"type": [kind, "null"], **extra}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


ETAG = {"ETag": {"schema": {"type": "string"}, "description": "changes with every sample"}}
ERROR = _ref("Error")
NO_SNAPSHOT = _json(ERROR, "no snapshot yet: the first sample is still running (Retry-After: 1)")
NOT_MODIFIED = {"description": "If-None-Match matched the current ETag: nothing changed", "headers": ETAG}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the ETag of a previous answer: 304 when nothing changed"}
LIMIT = {"name": "limit", "in": "query", "required": False,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
         "description": "rows to return (1-100); out of range or not an integer: 422"}


HOST = {"name": "host", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "a host of the fleet (GET /api/v1/hosts lists them; default: this node's host); another "
                       "host's answer comes from its latest snapshot stored in the history"}
REPORT_MEDIA = ("text/html", "application/pdf", "text/csv")
REPORTS = {"type": "object", "required": ["reports"], "properties": {"reports": {"type": "array", "items": {
    "type": "object", "required": ["period", "kind", "files"],
    "properties": {"period": {"type": "string"}, "kind": {"enum": ["day", "week", "month"]},
                   "files": {"type": "array", "items": {
                       "type": "object", "required": ["name", "url", "bytes", "modified"],
                       "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                                      "bytes": {"type": "integer"},
                                      "modified": {"type": "string", "format": "date-time"}}}}}}}}}
UNKNOWN_HOST = _json(ERROR, "host names no host of this history (on SQLite: any host but this one)")


def _snapshot_get(summary: str, schema: dict, description: str, params: list | None = None,
                  validates: bool = False, media: str = "application/json", per_host: bool = False) -> dict:
    ok = {"description": description, "headers": ETAG, "content": {media: {"schema": schema}}}
    responses = {"200": ok, "304": NOT_MODIFIED, "503": NO_SNAPSHOT}
    if validates:
        responses["422"] = _json(_ref("ValidationError"), "a query parameter is invalid")
    if per_host:
        params = [*(params or []), HOST]
        responses["404"] = UNKNOWN_HOST
        responses["502"] = _json(ERROR, "the host's stored snapshot was written by another version of reporter")
        responses["503"] = _json(ERROR, "no snapshot yet (Retry-After), or the history is unavailable")
    return {"get": {"summary": summary, "parameters": [IF_NONE_MATCH, *(params or [])], "responses": responses}}


def _schemas(features: list[str]) -> dict:
    snapshot = Snapshot.model_json_schema(mode="serialization", ref_template=REF)
    schemas = snapshot.pop("$defs")
    schemas["Snapshot"] = snapshot
    alert = ActiveAlert.model_json_schema(mode="serialization", ref_template=REF)
    schemas.update(alert.pop("$defs", {}))
    number, integer = _nullable("number"), _nullable("integer")
    schemas.update({
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        "ValidationError": {
            "type": "object", "required": ["error", "detail"],
            "properties": {"error": {"type": "string"}, "detail": {"type": "array", "items": {
                "type": "object", "required": ["loc", "msg", "type"],
                "properties": {"loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                               "msg": {"type": "string"}, "type": {"type": "string"}}}}}},
        "SeedMetrics": {
            "type": "object", "required": ["system", "ai", "usage", "timestamp"],
            "properties": {
                "system": {"type": "object", "properties": {
                    "cpu_percent": number, "memory_percent": number, "memory_used_gb": number,
                    "memory_total_gb": number, "disk_percent": number, "uptime_seconds": number}},
                "ai": {"type": "object", "properties": {
                    "model": {"type": "string"}, "is_available": _nullable("boolean"),
                    "total_requests": integer, "avg_response_time": number, "cache_hit_rate": number}},
                "usage": {"type": "object", "properties": {
                    "total_users": integer, "active_users_24h": integer, "total_scenarios": integer,
                    "active_conversations": integer, "total_quizzes_taken": integer,
                    "total_grammar_checks": integer}},
                "timestamp": {"type": "string", "format": "date-time"}}},
        "SeedHealth": {
            "type": "object", "required": ["status", "services", "timestamp"],
            "properties": {"status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
                           "services": {"type": "object", "additionalProperties": {"type": ["boolean", "null"]},
                                        "description": "up or down; null: not probed on this host (REPORTER_PROBES)",
                                        "required": ["database", "redis", "ollama"]},
                           "timestamp": {"type": "string", "format": "date-time"}}},
        "AIFeatures": {"type": "object", "additionalProperties": {
            "type": "object", "required": list(SEED_FEATURE_FIELDS),
            "properties": {"requests": integer, "success": integer, "success_rate": number,
                           "total_time_seconds": number, "avg_time": number}}},
        "Alerts": {"type": "object", "required": ["timestamp", "alerts"],
                   "properties": {"timestamp": {"type": "string"},
                                  "alerts": {"type": "array", "items": _ref("ActiveAlert")}}},
        "Healthz": {"type": "object", "required": ["status"],
                    "properties": {"status": {"type": "string",
                                              "enum": ["ok", "stale", "starting", "history_failing"]},
                                   "last_sample_age_seconds": {"type": "number"},
                                   "stale_after_seconds": {"type": "number"}, "detail": {"type": "string"},
                                   "error": {"type": "string", "description": "why the history cannot be written"},
                                   "spool": {"type": "string",
                                             "description": "`spooling N samples` while a fleet node's local "
                                                            "spool holds samples"}}},
        "AIUsage": {
            "type": "object", "required": ["feature", "response_time_seconds", "success"],
            "additionalProperties": False,
            "properties": {
                "feature": {"type": "string", "enum": list(features)},
                "response_time_seconds": {"type": "number", "minimum": 0, "maximum": MAX_RESPONSE_TIME_SECONDS},
                "success": {"type": "boolean"}, "cache_hit": {"type": "boolean", "default": False},
                "prompt_tokens": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_TOKENS,
                                  "description": "tokens of the prompt (Ollama's prompt_eval_count); INCRBY "
                                                 "ai:{feature}:prompt_tokens"},
                "completion_tokens": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_TOKENS,
                                      "description": "tokens generated (eval_count)"},
                "generation_ns": {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_GENERATION_NS,
                                  "description": "nanoseconds generating them (eval_duration), a whole number"},
                "cold_load": {"type": ["boolean", "null"],
                              "description": "the model was loaded for this request (load_duration above 1 s)"}}},
        "AckRequest": {
            "type": "object", "required": ["by"], "additionalProperties": False,
            "properties": {"by": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "\\S",
                                  "description": "who (not blank)"},
                           "comment": {"type": "string", "maxLength": 1000, "default": ""}}},
        "Ack": {"type": "object", "required": ["status", "fingerprint", "by", "comment", "at", "starts_at"],
                "properties": {"status": {"const": "acknowledged"}, "fingerprint": {"type": "string"},
                               "by": {"type": "string"}, "comment": {"type": "string"},
                               "at": {"type": "string", "format": "date-time"},
                               "starts_at": {"type": "string", "format": "date-time",
                                             "description": "the acknowledged episode (the alert's active_at)"}}},
        "Logged": {"type": "object", "required": ["status"],
                   "properties": {"status": {"const": "logged"}, "feature": {"type": "string"}}},
        "Hosts": {
            "type": "object", "required": ["hosts"],
            "properties": {"hosts": {"type": "array", "items": {
                "type": "object", "required": ["name", "last_sample", "status", "leader", "version", "role"],
                "properties": {
                    "name": {"type": "string"},
                    "last_sample": {"type": ["string", "null"], "format": "date-time",
                                    "description": "when its newest stored sample was taken (null: none yet)"},
                    "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy", "down", "unknown"],
                               "description": "its latest snapshot's, or down: no sample for 3 intervals"},
                    "leader": {"type": "boolean", "description": "the node of this host leads the fleet"},
                    "version": {"type": ["string", "null"]},
                    "role": {"type": "string", "enum": ["node", "agent"]}}}}}},
        "Series": {
            "type": "object", "required": ["metric", "unit", "from", "to", "points"],
            "properties": {
                "metric": {"type": "string"}, "unit": {"type": "string"}, "description": {"type": "string"},
                "host": {"type": ["string", "null"], "description": "whose series (null: an app-wide metric)"},
                "counter": {"type": "boolean"}, "from": {"type": "string"}, "to": {"type": "string"},
                "step_seconds": number, "samples": {"type": "integer"},
                "points": {"type": "array", "maxItems": 2000, "items": {
                    "type": "array", "minItems": 2, "maxItems": 2, "items": number,
                    "description": "[Unix ms (UTC) of the sample or bucket start, value or null]"}}}},
    })
    schemas.update(_silence_schemas())
    return schemas


def _silence_schemas() -> dict:
    """Alertmanager v2's silence shapes (a matcher may also be a matcher string, ``service=~"redis|db"``)."""
    text = {"type": "string", "minLength": 1, "maxLength": 1000}
    matcher = {"type": "object", "required": ["name", "value", "isRegex"], "additionalProperties": False,
               "properties": {"name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                              "value": {"type": "string", "maxLength": 1000}, "isRegex": {"type": "boolean"},
                              "isEqual": {"type": "boolean", "default": True}}}
    time = {"type": "string", "format": "date-time"}
    return {
        "Matcher": matcher,
        "PostableSilence": {
            "type": "object", "required": ["matchers", "endsAt", "comment", "createdBy"],
            "additionalProperties": False,
            "properties": {"matchers": {"type": "array", "minItems": 1, "maxItems": 64,
                                        "items": {"anyOf": [matcher, {"type": "string"}]}},
                           "startsAt": {**time, "description": "default: now"}, "endsAt": time,
                           "comment": text, "createdBy": text}},
        "Silence": {
            "type": "object", "required": ["id", "matchers", "startsAt", "endsAt", "createdBy", "comment", "status"],
            "properties": {"id": {"type": "string"}, "matchers": {"type": "array", "items": matcher},
                           "startsAt": time, "endsAt": time, "createdBy": {"type": "string"},
                           "comment": {"type": "string"},
                           "status": {"type": "object", "required": ["state"], "properties": {
                               "state": {"type": "string", "enum": ["pending", "active", "expired"]}}}}},
        "SilenceCreated": {"type": "object", "required": ["silenceID"], "properties": {
            "silenceID": {"type": "string"}, "status": {"type": "object"}}},
        "FieldError": {"type": "object", "required": ["error"], "properties": {
            "error": {"type": "string"}, "field": {"type": "string", "description": "the body field at fault"}}},
    }


def document(features: list[str], metrics: list[str] | None, token: bool) -> dict:
    """The OpenAPI document for an app with these AI ``features``, history ``metrics`` (None: no history)
    and with or without a bearer ``token``."""
    paths = {
        "/snapshot": _snapshot_get("the latest snapshot (of this host, or of ?host=)", _ref("Snapshot"),
                                   "every figure of the latest sample", per_host=True),
        "/api/v1/analytics/metrics": _snapshot_get("seed: system, AI and usage figures (of this host, or of ?host=)",
                                                   _ref("SeedMetrics"), "the seed's {system, ai, usage} (+ timestamp)",
                                                   per_host=True),
        "/api/v1/analytics/health": _snapshot_get("seed: overall status and service health (of this host, or of "
                                                  "?host=)", _ref("SeedHealth"),
                                                  "status, services up (true/false), timestamp", per_host=True),
        "/api/v1/analytics/ai-features": _snapshot_get("seed: lifetime figures per AI feature", _ref("AIFeatures"),
                                                       "feature name -> its counters and rates"),
        "/api/v1/analytics/top-users": _snapshot_get(
            "seed: most active users (emails masked unless REPORTER_SHOW_EMAILS=true)",
            {"type": "array", "maxItems": 100, "items": _ref("TopUser")}, "best first", [LIMIT], True),
        "/api/v1/analytics/popular-scenarios": _snapshot_get(
            "seed: scenarios by conversations started", {"type": "array", "maxItems": 100,
                                                         "items": _ref("PopularScenario")},
            "most started first", [LIMIT], True),
        "/metrics": _snapshot_get("Prometheus text exposition of the latest snapshot", {"type": "string"},
                                  "text format 0.0.4", media="text/plain"),
        "/alerts": _snapshot_get("pending and firing alerts of the latest evaluation", _ref("Alerts"),
                                 "active alerts"),
        "/api/v1/analytics/log-ai-usage": {"post": {
            "summary": "count one AI request in the Redis counters (one MULTI/EXEC); needs REPORTER_API_TOKEN",
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AIUsage")}}},
            "responses": {
                "200": _json(_ref("Logged"), "counted"),
                "403": _json(ERROR, "disabled: REPORTER_API_TOKEN is not set"),
                "408": _json(ERROR, "the body was not received within 10 s"),
                "413": _json(ERROR, "the body is larger than 16 KB"),
                "415": _json(ERROR, "the body is not JSON"),
                "422": _json(_ref("ValidationError"), "invalid body: error says what, detail each field"),
                "503": _json(ERROR, "Redis unavailable: nothing was counted")}}},
        "/api/v1/silences": {
            "get": {"summary": "every silence (pending, active, expired), as Alertmanager's GET /api/v2/silences",
                    "responses": {"200": _json({"type": "array", "items": _ref("Silence")}, "soonest end first"),
                                  "503": _json(ERROR, "no history configured, or the history database is "
                                                      "unavailable")}},
            "post": {"summary": "create a silence (a later startsAt: a pending one-off maintenance window); needs "
                                "REPORTER_API_TOKEN",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": _ref("PostableSilence")}}},
                     "responses": {"200": _json(_ref("SilenceCreated"), "stored"),
                                   "400": _json(_ref("FieldError"), "invalid body: error and field say what"),
                                   "403": _json(ERROR, "disabled: REPORTER_API_TOKEN is not set"),
                                   "408": _json(ERROR, "the body was not received in time"),
                                   "413": _json(ERROR, "the body is larger than 16 KB"),
                                   "503": _json(ERROR, "no history configured, or the history database is "
                                                      "unavailable")}}},
        "/api/v1/silences/{silence_id}": {"delete": {
            "summary": "expire a pending or active silence now; needs REPORTER_API_TOKEN",
            "parameters": [{"name": "silence_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": _json(_ref("SilenceCreated"), "expired"),
                          "403": _json(ERROR, "disabled: REPORTER_API_TOKEN is not set"),
                          "404": _json(ERROR, "no pending or active silence has that id"),
                          "503": _json(ERROR, "no history configured, or the history database is "
                                                      "unavailable")}}},
        "/api/v1/alerts/{fingerprint}/ack": {"post": {
            "summary": "acknowledge a pending or firing alert's current episode: no repeats, no escalation, its "
                       "notifications say who and when, until it resolves; needs REPORTER_API_TOKEN",
            "parameters": [{"name": "fingerprint", "in": "path", "required": True,
                            "schema": {"type": "string", "maxLength": 32},
                            "description": "the alert's fingerprint (`reporter alerts`, /alerts)"}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("AckRequest")}}},
            "responses": {
                "200": _json(_ref("Ack"), "acknowledged"),
                "400": _json(ERROR, "the body is not a JSON object, or a field is bad (error names it)"),
                "403": _json(ERROR, "disabled: REPORTER_API_TOKEN is not set"),
                "404": _json(ERROR, "no alert has this fingerprint"),
                "409": _json(ERROR, "the alert is resolved: nothing to acknowledge"),
                "413": _json(ERROR, "the body is larger than 16 KB"),
                "503": _json(ERROR, "no history configured, or the history database is unavailable")}}},
        "/api/v1/history": {"get": {
            "summary": "one stored series, bucket means, at most 2,000 points (queried in a worker thread)",
            "parameters": [
                {"name": "metric", "in": "query", "required": True,
                 "schema": {"type": "string", **({"enum": metrics} if metrics else {})}},
                {"name": "from", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Unix seconds or ISO 8601 (default: to - 1 h)"},
                {"name": "to", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "Unix seconds or ISO 8601 (default: now)"},
                {"name": "step", "in": "query", "required": False,
                 "schema": {"type": "number", "exclusiveMinimum": 0},
                 "description": "bucket width in seconds (default: raw samples, or span / 2000 when more)"},
                {**HOST, "description": "whose series (default: this node's host); an app-wide metric (ai_*, "
                                        "usage_*) is the fleet's whatever the host"}],
            "responses": {"200": _json(_ref("Series"), "the series"),
                          "404": UNKNOWN_HOST,
                          "422": _json(_ref("ValidationError"), "unknown metric, bad time or step"),
                          "503": _json(ERROR, "no history configured, or the history database is unavailable")}}},
        "/api/v1/hosts": {"get": {
            "summary": "the hosts writing into this history, with their status and the leader (SQLite: this host)",
            "responses": {"200": _json(_ref("Hosts"), "every host, by name"),
                          "503": _json(ERROR, "no history configured, or the history database is unavailable")}}},
        "/api/v1/reports": {"get": {
            "summary": "the latest report files (REPORTER_REPORT_DIR), grouped by period, newest first",
            "responses": {"200": _json(REPORTS, "the newest periods of each kind"),
                          "503": _json(ERROR, "no report folder configured")}}},
        "/api/v1/reports/{name}": {"get": {
            "summary": "one report file (a name listed by GET /api/v1/reports)",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the file (HTML, PDF or CSV)",
                                  "content": {m: {"schema": {"type": "string"}} for m in REPORT_MEDIA}},
                          "404": _json(ERROR, "no report file of this name"),
                          "503": _json(ERROR, "no report folder configured")}}},
        "/healthz": {"get": {"summary": "liveness for supervisors (no token needed)", "security": [],
                             "responses": {"200": _json(_ref("Healthz"), "the last sample is recent"),
                                           "503": _json(_ref("Healthz"), "no sample yet, or stale")}}},
        "/openapi.json": {"get": {"summary": "this document", "responses": {
            "200": _json({"type": "object"}, "OpenAPI 3.1")}}},
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "reporter", "version": "1",
                 "description": "Monitoring daemon: the latest snapshot, the seed's analytics endpoints, "
                                "Prometheus exposition, AI usage logging, silences and history. Answers come from memory "
                                "(serialised once per sample) except /api/v1/history."},
        "paths": paths,
        "components": {"schemas": _schemas(features)},
    }
    misdirected = _json(ERROR, "the Host is not a name of this server (REPORTER_ALLOWED_HOSTS)")
    for item in paths.values():
        for operation in item.values():
            operation["responses"]["421"] = misdirected
            bad = operation["responses"].get("400")
            operation["responses"]["400"] = _json(ERROR, (bad["description"] + "; or " if bad else "")
                                                  + "the Host header is missing (HTTP/1.1), repeated or malformed")
    if token:
        unauthorized = _json(ERROR, "missing or wrong bearer token")
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
        for path, item in paths.items():
            if path != "/healthz":
                for operation in item.values():
                    operation["responses"]["401"] = unauthorized
    return doc
