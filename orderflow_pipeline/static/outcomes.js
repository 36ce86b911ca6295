/* Outcomes panel (issue 21): does a signal work? Per signal over the last N sessions, from
 * GET /signals/outcomes?days=N (outcomes.rolling_report on the server): count, next-day hit rate
 * (share of ret_next_cc > 0 for the buy family, < 0 for the sell family) against NEUTRAL's, mean
 * and median next-day return and the 95% bootstrap interval of the mean. Every figure is the
 * server's; this file only formats them. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %");
  const ret = (v) => (v === null || v === undefined ? "–" : (v > 0 ? "+" : "") + v.toFixed(2) + " %");
  const COLS = ["signal", "direction", "count", "hit rate", "NEUTRAL", "edge", "mean", "median", "95% CI of mean"];

  function row(line, cls) {
    const tr = document.createElement("tr");
    tr.dataset.signal = line.signal;
    if (cls) tr.className = cls;
    const ci = line.ci95 ? ret(line.ci95[0]) + " … " + ret(line.ci95[1]) : "–";
    const edge = line.edge === null || line.edge === undefined ? "–" : (line.edge > 0 ? "+" : "") + (100 * line.edge).toFixed(1) + " pt";
    const cells = [line.signal, line.direction, String(line.count), pct(line.hit_rate),
                   pct(line.baseline_hit_rate), edge, ret(line.mean), ret(line.median), ci];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      td.textContent = text;
      if (i === 0) td.className = "t";
      if (i === 5 && line.edge) td.className = line.edge > 0 ? "pos" : "neg";
      tr.appendChild(td);
    });
    return tr;
  }

  async function load() {
    const days = Number($("outcomes-days").value) || 60;
    const status = $("outcomes-status");
    const table = $("outcomes-table");
    table.dataset.ready = "0";
    status.textContent = "loading…";
    let body;
    try {
      const res = await fetch("/signals/outcomes?days=" + days);
      body = await res.json();
      if (!res.ok) { status.textContent = "HTTP " + res.status + " · " + (body.detail || ""); return; }
    } catch (err) {
      status.textContent = "cannot load outcomes: " + err.message;
      return;
    }
    const head = table.querySelector("thead tr");
    head.textContent = "";
    COLS.forEach((c, i) => {
      const th = document.createElement("th");
      th.textContent = c;
      if (i === 0) th.className = "t";
      head.appendChild(th);
    });
    const tbody = table.querySelector("tbody");
    tbody.textContent = "";
    const b = body.baseline;
    tbody.appendChild(row(Object.assign({}, b, { baseline_hit_rate: null, edge: null }), "baseline"));
    for (const f of body.families || []) tbody.appendChild(row(f, "family"));
    for (const s of body.signals || []) if (s.signal !== b.signal) tbody.appendChild(row(s, ""));
    status.textContent = body.from
      ? "sessions " + body.from + " … " + body.to + " · next-day close-to-close return · hit = up for the buy family, down for the sell family · bootstrap " +
        ((body.bootstrap && body.bootstrap.resamples) || "?") + " resamples"
      : "no signal outcomes yet (they need the sessions after a summary)";
    table.dataset.ready = "1";
    window.__outcomes = body;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("outcomes-days").addEventListener("change", load);
    load();
  });
})();
