// reporter status page: reads the JSON API of the daemon that served it and shows it.
// - /snapshot every REFRESH_MS with If-None-Match (an unchanged snapshot is a 304), /healthz for the staleness
//   limit, /api/v1/history for the charts, /api/v1/hosts and /api/v1/reports now and then;
// - with a token (a 401), asks for it once, keeps it in sessionStorage and sends it as a bearer header;
// - every datum goes in with textContent (names are user data): nothing from the API becomes markup.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const TIMEOUT_MS = 4000;  // a request without an answer by then counts as the daemon not answering
  const TOKEN_KEY = "reporter.api_token";
  const RANGES = {hour: [3600, 30], day: [86400, 600], week: [7 * 86400, 3600]};  // span, step (s)
  const CHART_EVERY = {hour: 30000, day: 300000, week: 900000};  // ms between chart reloads
  const CHARTS = [
    {id: "cpu", title: "CPU", unit: "%", max: 100, metric: "cpu_percent"},
    {id: "memory", title: "Memory", unit: "%", max: 100, metric: "memory_percent"},
    {id: "disk", title: "Disk", unit: "%", max: 100, metric: "disk_percent"},
    {id: "ai-requests", title: "AI requests per minute", unit: "/min", max: null, metric: "ai_total_requests"},
    {id: "ai-latency", title: "AI response time", unit: "s", max: null, metric: "ai_total_time_seconds"},
  ];
  const STATES = {  // word and mark: state is never told by colour alone
    healthy: ["✔", "Healthy"], degraded: ["▲", "Degraded"], unhealthy: ["✖", "Unhealthy"],
    up: ["✔", "up"], down: ["✖", "down"], unknown: ["?", "unknown"], "not probed": ["–", "not probed"],
    firing: ["✖", "firing"], pending: ["▲", "pending"],
  };
  const ALERT_LABELS = ["State", "Alert", "Severity", "Host", "Since", "Marks"];
  const $ = id => document.getElementById(id);
  let token = sessionStorage.getItem(TOKEN_KEY);
  let etag = null, snapshot = null, skewMs = 0, staleAfterS = null;
  let lastAnswer = null, failingSince = null, failure = "";
  let viewHost = null, nodeHost = null;  // the fleet host shown (null: the node serving the page), that node's name
  let range = "hour", chartsAt = 0, hostsAt = 0, reportsAt = 0, healthAt = 0, timer = null, started = false;

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }

  function state(key, extra) {  // a mark and a word, with a class for the colour
    const [mark, word] = STATES[key] || ["?", String(key)];
    const span = el("span", null, "state state-" + String(key).replace(/[^a-z]/g, ""));
    span.append(el("span", mark, "mark"), el("span", word + (extra ? " " + extra : "")));
    span.firstChild.setAttribute("aria-hidden", "true");
    return span;
  }

  function row(cells, wrap, labels) {  // wrap: indexes of cells whose text may wrap; labels: for the phone layout
    const tr = document.createElement("tr");
    for (const [i, cell] of cells.entries()) {
      const td = document.createElement("td");
      if (wrap && wrap.includes(i)) td.className = "wrap";
      if (labels) td.dataset.label = labels[i];
      if (cell instanceof Node) td.append(cell); else td.textContent = cell === null || cell === undefined ? "–" : String(cell);
      tr.append(td);
    }
    return tr;
  }

  const num = (v, digits, unit) => v === null || v === undefined ? "–" : Number(v).toFixed(digits) + (unit || "");
  const now = () => Date.now() - skewMs;  // the server's clock

  function ago(iso) {
    if (!iso) return "–";
    const s = Math.max(0, (now() - Date.parse(iso)) / 1000);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  async function api(path, conditional) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (conditional && etag) headers["If-None-Match"] = etag;
    let response;
    try {
      response = await fetch(path, {headers, cache: "no-store", credentials: "omit",
                                    signal: AbortSignal.timeout(TIMEOUT_MS)});
    } catch (error) {
      throw new Error(error.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : "no connection");
    }
    const date = response.headers.get("Date");
    if (date) skewMs = Date.now() - Date.parse(date);
    if (response.status === 401) throw Object.assign(new Error("token"), {unauthorized: true});
    return response;
  }

  function askToken(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("main").hidden = true;
    $("login").hidden = false;
    $("connection").textContent = "Waiting for the API token.";
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  $("login-form").addEventListener("submit", event => {
    event.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    etag = null;
    $("login").hidden = true;
    $("connection").textContent = "Checking the token…";
    schedule(0);
  });

  // -- rendering ----------------------------------------------------------------------------------------------
  function renderOverall(s) {
    $("host-name").textContent = s.host + (viewHost ? " (its latest stored sample)" : "");
    const overall = $("overall");
    overall.replaceChildren(state(s.status));
    overall.className = "state big state-" + s.status;
    document.title = `${(STATES[s.status] || ["?"])[0]} ${s.status} · ${s.host} · reporter`;
    const errors = Object.entries(s.errors || {});
    $("errors").hidden = errors.length === 0;
    $("errors").textContent = errors.length ? "Could not read: " + errors.map(([k, v]) => `${k} (${v})`).join("; ") : "";
  }

  function gb(used, total) {
    return total === null || total === undefined ? "" : ` (${num(used, 1)} of ${num(total, 1)} GiB)`;
  }

  function uptime(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const days = Math.floor(seconds / 86400), hours = Math.floor(seconds % 86400 / 3600);
    return days ? `${days} d ${hours} h` : `${hours} h ${Math.floor(seconds % 3600 / 60)} min`;
  }

  function renderSystem(s) {
    const y = s.system;
    figures("system", [["CPU", num(y.cpu_percent, 1, " %")],
                       ["Memory", num(y.memory_percent, 1, " %") + gb(y.memory_used_gb, y.memory_total_gb)],
                       [`Disk ${y.disk_path || ""}`.trim(), num(y.disk_percent, 1, " %") + gb(y.disk_used_gb, y.disk_total_gb)],
                       ["Load (1 min)", num(y.load_1m, 2)], ["Uptime", uptime(y.uptime_seconds)]]);
  }

  function serviceState(health) {
    if (health.up === null && health.error === "not probed on this host") return state("not probed");
    return state(health.up === true ? "up" : health.up === false ? "down" : "unknown");
  }

  function renderServices(s) {
    const rows = [];
    for (const name of ["database", "redis", "ollama"]) {
      const h = s.services[name];
      let detail = h.error && h.error !== "not probed on this host" ? h.error : "";
      if (name === "ollama") {
        const parts = [`model ${h.model}` + (h.is_available === false ? " (not listed)" : "")];
        if (h.version) parts.push(`version ${h.version}`);
        if (h.model_loaded !== null && h.model_loaded !== undefined) parts.push(h.model_loaded ? "loaded in memory" : "not loaded");
        if (h.model_cpu_offload_ratio !== null && h.model_cpu_offload_ratio !== undefined) {
          parts.push(`${num(h.model_cpu_offload_ratio * 100, 0, " %")} on the CPU`);
        }
        detail = parts.join(", ") + (detail ? "; " + detail : "");
      }
      const latency = el("span", num(h.latency_ms, 1, " ms"), "number");
      rows.push(row([name, serviceState(h), latency, detail], [3]));
    }
    $("services").replaceChildren(...rows);
  }

  function marks(a) {
    const box = el("span", null, "marks");
    if (a.suppressed) {
      const why = a.suppressed_reason || (a.silenced_by.length ? "silenced" : "inhibited");
      box.append(el("span", "🔕 suppressed: " + why, "mark-tag suppressed"));
    }
    if (a.acknowledged_by) {
      const ack = el("span", "✋ acknowledged by " + a.acknowledged_by, "mark-tag acknowledged");
      if (a.ack_comment) ack.title = a.ack_comment;
      box.append(ack);
    }
    if (!box.childNodes.length) box.textContent = "–";
    return box;
  }

  function renderAlerts(s) {
    const alerts = s.alerts || [];
    $("alerts-count").textContent = alerts.length ? `(${alerts.length})` : "";
    $("alerts-empty").hidden = alerts.length > 0;
    $("alerts-table").hidden = alerts.length === 0;
    $("alerts").replaceChildren(...alerts.map(a => {
      const name = el("span");
      name.append(el("strong", a.alertname));
      if (a.summary) name.append(el("br"), el("span", a.summary, "summary"));
      const since = el("time", ago(a.fired_at || a.active_at));
      since.dateTime = a.fired_at || a.active_at || "";
      since.title = since.dateTime;
      const tr = row([state(a.state), name, a.severity, a.host || "app-wide", since, marks(a)], [1, 5], ALERT_LABELS);
      tr.className = "alert-" + a.state + (a.suppressed ? " is-suppressed" : "");
      return tr;
    }));
  }

  function figures(target, pairs) {
    const items = [];
    for (const [label, value] of pairs) {
      const div = el("div");
      div.append(el("dt", label), el("dd", value));
      items.push(div);
    }
    $(target).replaceChildren(...items);
  }

  function renderAI(s) {
    const ai = s.ai, window5 = (ai.windows || {})["5m"];
    // a node of a fleet that leaves the AI counters to the leader: say so rather than show bare dashes
    const byLeader = ai.error === "sampled by the leader";
    const pairs = [["Model", ai.model + (ai.is_available === false ? " (not available)" : "")],
                   ["Requests", ai.total_requests ?? (byLeader ? "read by the leader (see Hosts)" : "–")],
                   ["Avg response", num(ai.avg_response_time, 2, " s")],
                   ["Cache hits", num(ai.cache_hit_rate, 1, " %")]];
    if (window5) {
      pairs.push(["Last 5 min", `${num(window5.requests, 0)} requests`],
                 ["Success (5 min)", num(window5.success_rate, 1, " %")]);
    }
    const loaded = s.services.ollama.model_loaded;
    if (loaded !== null && loaded !== undefined) pairs.push(["Loaded", loaded ? "✔ yes" : "✖ no"]);
    const offload = s.services.ollama.model_cpu_offload_ratio;
    if (offload !== null && offload !== undefined) pairs.push(["CPU offload", num(offload * 100, 0, " %")]);
    figures("ai", pairs);
    $("features").replaceChildren(...Object.entries(ai.features || {}).map(([name, f]) => row(
      [name, f.requests, num(f.success_rate, 1, " %"), num(f.avg_time, 2, " s"), num(f.tokens_per_second, 1)])));
  }

  function renderUsage(s) {
    const u = s.usage;
    if (!u) {  // an error: this host reads it and failed (the reason is under "Could not read")
      const failed = Boolean((s.errors || {}).usage);
      figures("usage", [["Application database", failed ? "✖ could not be read (see above)" : "not read on this host"]]);
      $("scenarios").replaceChildren();
      return;
    }
    figures("usage", [["Users", u.total_users ?? "–"], ["Active (24 h)", u.active_users_24h ?? "–"],
                      ["Conversations open", u.active_conversations ?? "–"], ["Quizzes", u.total_quizzes_taken ?? "–"],
                      ["Grammar checks", u.total_grammar_checks ?? "–"]]);
    $("scenarios").replaceChildren(...(u.popular_scenarios || []).map(p => row(
      [p.name || p.scenario_id, p.start_count, num(p.completion_rate, 1, " %")], [0])));
  }

  function renderAge() {
    if (!snapshot) return;
    const age = Math.max(0, (now() - Date.parse(snapshot.timestamp)) / 1000);
    const stale = staleAfterS !== null && age > staleAfterS;
    $("age").textContent = `Sampled ${Math.round(age)} s ago (${new Date(snapshot.timestamp).toLocaleTimeString()})` +
      (stale ? " — stale: the daemon answers but has taken no sample since" : "");
    $("age").classList.toggle("stale", stale);
    const down = $("down");
    if (failingSince !== null) {
      const since = Math.round((Date.now() - failingSince) / 1000);
      down.hidden = false;
      down.textContent = `✖ The daemon is not answering (${failure}) for ${since} s. ` +
        `The figures below are from ${new Date(snapshot.timestamp).toLocaleTimeString()}.`;
    } else {
      down.hidden = true;
    }
    document.body.classList.toggle("is-down", failingSince !== null || stale);
  }

  // -- charts, hosts, reports -----------------------------------------------------------------------------------
  async function series(metric, from, to, step) {
    const host = viewHost ? "&host=" + encodeURIComponent(viewHost) : "";
    const r = await api(`/api/v1/history?metric=${encodeURIComponent(metric)}&from=${from}&to=${to}&step=${step}${host}`);
    if (!r.ok) throw new Error(((await r.json().catch(() => ({}))).error) || "HTTP " + r.status);
    return (await r.json()).points;
  }

  async function loadCharts() {
    const [span, step] = RANGES[range];
    const to = Math.ceil(now() / 1000), from = to - span;
    try {
      const loaded = await Promise.all(CHARTS.map(c => series(c.metric, from, to, step)));
      const byId = Object.fromEntries(CHARTS.map((c, i) => [c.id, loaded[i]]));
      byId["ai-latency"] = ReporterCharts.meanLatency(byId["ai-requests"], byId["ai-latency"]);
      byId["ai-requests"] = ReporterCharts.ratePerMinute(byId["ai-requests"]);
      $("charts").replaceChildren(...CHARTS.map(c => ReporterCharts.draw(c, byId[c.id], [from * 1000, to * 1000], step * 1000)));
      $("charts-note").hidden = true;
    } catch (error) {
      if (error.unauthorized) throw error;
      $("charts-note").hidden = false;
      $("charts-note").textContent = "History unavailable: " + error.message;
    }
  }

  function view(name) {  // show another host of the fleet (its latest stored snapshot), or this node (null)
    viewHost = name;
    etag = null;
    chartsAt = 0;
    hostsAt = 0;
    schedule(0);
  }

  async function loadHosts() {
    const r = await api("/api/v1/hosts");
    if (!r.ok) return;
    const hosts = (await r.json()).hosts || [];
    $("fleet-card").hidden = hosts.length < 2;
    const shown = viewHost || (snapshot && snapshot.host);
    $("fleet").replaceChildren(...hosts.map(h => {
      const button = el("button", h.name + (h.leader ? " (leader)" : ""), "host-button");
      button.type = "button";
      button.setAttribute("aria-pressed", String(h.name === shown));
      button.title = "Show this host's figures";
      button.addEventListener("click", () => view(h.name === nodeHost ? null : h.name));
      return row([button, state(h.status === "down" ? "down" : h.status), ago(h.last_sample), h.role, h.version], [0]);
    }));
  }

  async function openReport(event, file) {
    if (!token) return;  // without a token the link opens as it is
    event.preventDefault();
    const r = await api(file.url);
    if (!r.ok) return;
    const link = el("a");
    link.href = URL.createObjectURL(await r.blob());
    link.download = file.name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  }

  async function loadReports() {
    const r = await api("/api/v1/reports");
    if (!r.ok) return;
    const reports = (await r.json()).reports || [];
    $("reports-empty").hidden = reports.length > 0;
    const titles = {day: "Daily", week: "Weekly", month: "Monthly"};
    $("reports").replaceChildren(...reports.map(p => {
      const li = el("li");
      li.append(el("span", `${titles[p.kind] || p.kind} report ${p.period}: `, "period"));
      p.files.forEach((f, i) => {
        const a = el("a", f.name.slice(p.period.length + 1));
        a.href = f.url;
        a.addEventListener("click", event => openReport(event, f));
        li.append(...(i ? [" · ", a] : [a]));
      });
      return li;
    }));
  }

  // -- the refresh loop -------------------------------------------------------------------------------------------
  async function refresh() {
    try {
      const r = await api(viewHost ? "/snapshot?host=" + encodeURIComponent(viewHost) : "/snapshot", true);
      if (r.status === 200) {
        snapshot = await r.json();
        if (!viewHost) nodeHost = snapshot.host;
        etag = r.headers.get("ETag");
        renderOverall(snapshot); renderSystem(snapshot); renderServices(snapshot); renderAlerts(snapshot); renderAI(snapshot);
        renderUsage(snapshot);
      } else if (r.status === 503 && !snapshot) {  // answering, but no sample yet
        $("connection").textContent = "Starting: the daemon has not taken its first sample yet…";
        failingSince = null;
        return true;
      } else if (r.status !== 304) {
        const body = await r.json().catch(() => ({}));
        throw new Error(body.error || "HTTP " + r.status);
      }
      failingSince = null;
      lastAnswer = Date.now();
      $("login").hidden = true;
      $("main").hidden = false;
      $("connection").textContent = `Live · refreshed ${new Date().toLocaleTimeString()} every ${REFRESH_MS / 1000} s`;
      const t = Date.now();
      if (t - healthAt > 60000) {
        healthAt = t;
        const h = await api("/healthz").then(x => x.json()).catch(() => ({}));
        if (h.stale_after_seconds) staleAfterS = h.stale_after_seconds;
      }
      if (t - chartsAt > CHART_EVERY[range]) { chartsAt = t; await loadCharts(); }
      if (t - hostsAt > 30000) { hostsAt = t; await loadHosts(); }
      if (t - reportsAt > 60000) { reportsAt = t; await loadReports(); }
    } catch (error) {
      if (error.unauthorized) {
        askToken(token ? "That token was refused; try again." : "");
        return false;
      }
      if (failingSince === null) failingSince = Date.now();
      failure = error.message;
      $("connection").textContent = "✖ Not answering since " + new Date(failingSince).toLocaleTimeString();
      if (!snapshot) {
        $("down").hidden = false;
        $("down").textContent = `✖ The daemon is not answering (${failure}); trying again every ${REFRESH_MS / 1000} s.`;
      }
    } finally {
      renderAge();
    }
    return true;
  }

  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      if (document.hidden && started) { schedule(REFRESH_MS); return; }  // nobody looks: ask nothing
      started = true;
      if (await refresh()) schedule(REFRESH_MS);
    }, delay);
  }

  for (const button of document.querySelectorAll(".ranges button")) {
    button.addEventListener("click", () => {
      range = button.dataset.range;
      for (const b of document.querySelectorAll(".ranges button")) b.setAttribute("aria-pressed", String(b === button));
      chartsAt = Date.now();
      loadCharts().catch(() => {});
    });
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) schedule(0); });
  setInterval(renderAge, 1000);
  schedule(0);
})();
