// reporter status page: line charts drawn as SVG from /api/v1/history points ([[unix_ms, value|null], ...]).
// Every text goes in with textContent; no data ever becomes markup.
"use strict";

window.ReporterCharts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 420, H = 160, LEFT = 44, RIGHT = 8, TOP = 10, BOTTOM = 22;

  function node(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
    if (text !== undefined) el.textContent = text;
    return el;
  }

  // per-bucket increase of a counter, as a rate per minute (a decrease is a reset: null)
  function ratePerMinute(points) {
    const out = [];
    for (let i = 1; i < points.length; i++) {
      const [t0, v0] = points[i - 1], [t1, v1] = points[i];
      const ok = v0 !== null && v1 !== null && v1 >= v0 && t1 > t0;
      out.push([t1, ok ? (v1 - v0) / ((t1 - t0) / 60000) : null]);
    }
    return out;
  }

  // mean response time per bucket: increase of the summed time / increase of the requests (null without requests)
  function meanLatency(requests, seconds) {
    const times = new Map(seconds.map(([t, v]) => [t, v]));
    const out = [];
    for (let i = 1; i < requests.length; i++) {
      const [t0, r0] = requests[i - 1], [t1, r1] = requests[i];
      const s0 = times.get(t0), s1 = times.get(t1);
      const ok = r0 !== null && r1 !== null && s0 != null && s1 != null && r1 > r0 && s1 >= s0;
      out.push([t1, ok ? (s1 - s0) / (r1 - r0) : null]);
    }
    return out;
  }

  function format(value, unit) {
    if (value === null || value === undefined) return "–";
    const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    return value.toFixed(digits) + (unit === "%" ? " %" : unit ? " " + unit : "");
  }

  function timeLabel(ms, spanMs) {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    return spanMs > 2 * 86400000 ? d.toLocaleDateString([], {weekday: "short", day: "numeric"}) + " " + hm : hm;
  }

  // one chart: {id, title, unit, max (fixed top of the scale or null)}, points, [fromMs, toMs], stepMs
  function draw(spec, points, span, stepMs) {
    const figure = document.createElement("figure");
    figure.className = "chart";
    const caption = document.createElement("figcaption");
    const values = points.map(p => p[1]).filter(v => v !== null && Number.isFinite(v));
    const last = [...points].reverse().find(p => p[1] !== null);
    const name = document.createElement("strong");
    name.textContent = spec.title;
    caption.append(name);
    const summary = document.createElement("span");
    summary.className = "summary";
    summary.textContent = values.length
      ? ` now ${format(last[1], spec.unit)} · min ${format(Math.min(...values), spec.unit)} · max ${format(Math.max(...values), spec.unit)}`
      : " no data in this range";
    caption.append(summary);

    const titleId = "chart-" + spec.id;
    const svg = node("svg", {viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": titleId,
                             class: "plot"});
    svg.append(node("title", {id: titleId}, spec.title + ":" + summary.textContent));
    const [from, to] = span;
    const peak = values.length ? Math.max(...values) : 0;
    const top = spec.max !== null ? spec.max : peak > 0 ? peak * 1.15 : 1;
    const x = t => LEFT + (t - from) / (to - from) * (W - LEFT - RIGHT);
    const y = v => TOP + (1 - Math.min(v, top) / top) * (H - TOP - BOTTOM);
    for (const frac of [0, 0.5, 1]) {
      const gy = y(top * frac);
      svg.append(node("line", {x1: LEFT, x2: W - RIGHT, y1: gy, y2: gy, class: "grid"}));
      const tick = top * frac;
      svg.append(node("text", {x: LEFT - 5, y: gy + 4, class: "axis", "text-anchor": "end"},
                      tick === 0 ? "0" : tick >= 10 ? tick.toFixed(0) : tick >= 1 ? tick.toFixed(1) : tick.toPrecision(2)));
    }
    svg.append(node("text", {x: LEFT, y: H - 5, class: "axis"}, timeLabel(from, to - from)));
    svg.append(node("text", {x: W - RIGHT, y: H - 5, class: "axis", "text-anchor": "end"}, timeLabel(to, to - from)));
    let d = "", previous = null;
    for (const [t, v] of points) {
      if (v === null || !Number.isFinite(v) || t < from) { previous = null; continue; }
      const gap = previous !== null && t - previous > 2.5 * stepMs;
      d += (d === "" || previous === null || gap ? "M" : "L") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
      previous = t;
    }
    if (d) svg.append(node("path", {d: d.trim(), class: "line"}));
    if (last && values.length) svg.append(node("circle", {cx: x(last[0]), cy: y(last[1]), r: 3.5, class: "dot"}));
    figure.append(caption, svg);
    return figure;
  }

  return {draw, ratePerMinute, meanLatency, format};
})();
