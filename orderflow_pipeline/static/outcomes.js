/* Outcomes panel (issues 21, 27): does a signal work, after costs, and does it hold out of sample?
 * From GET /signals/outcomes?days=N[&liquid=true] (outcome_report.rolling_report on the server):
 * per signal, family and the NEUTRAL baseline, per horizon, the net-of-costs figures (n, hit
 * rate, mean, 95% interval, t, Benjamini–Hochberg p over the whole report), the gross mean beside
 * them, the same net mean and t on the first and second half of the sessions, and the entries
 * left out at the auto-rejection limit. It follows the dashboard's liquid view (app.js sets
 * body[data-liquid] and fires "liquidchange"). Every figure is the server's; this file only
 * formats them, and keeps each raw value in the cell's data-v for the browser test. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const NONE = "–";
  const isNum = (v) => typeof v === "number" && isFinite(v);
  const pct = (v) => (isNum(v) ? (100 * v).toFixed(1) + " %" : NONE);
  const ret = (v) => (isNum(v) ? (v > 0 ? "+" : "") + v.toFixed(3) + " %" : NONE);
  const num = (v, dp) => (isNum(v) ? v.toFixed(dp) : NONE);
  const pval = (v) => (isNum(v) ? v.toFixed(4) : NONE);
  const HORIZON = { ret_next_oc: "next open→close", ret_next_cc: "next close→close", ret_5d: "5 sessions" };
  const COLS = ["signal", "horizon", "n", "hit (net)", "gross mean", "net mean", "net 95% CI",
                "net t", "BH p (net)", "1st half net", "t", "2nd half net", "t", "at limit"];
  let asked = 0; // the newest request: an older answer arriving late is dropped

  function cell(tr, text, cls, value) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    if (value !== undefined) td.dataset.v = value === null ? "" : String(value);
    tr.appendChild(td);
  }

  function rows(line, kind, passing) {
    const out = [];
    for (const [h, fig] of Object.entries(line.horizons || {})) {
      const g = fig.gross, n = fig.net, a = fig.first.net, b = fig.second.net;
      const tr = document.createElement("tr");
      tr.dataset.signal = line.signal;
      tr.dataset.horizon = h;
      tr.className = kind + (passing.has(line.signal + " " + h) ? " passing" : "");
      const ci = n.ci95 ? ret(n.ci95[0]) + " … " + ret(n.ci95[1]) : NONE;
      cell(tr, line.signal, "t");
      cell(tr, HORIZON[h] || h, "h");
      cell(tr, String(n.count), "n", n.count);
      cell(tr, pct(n.hit_rate), "hit", n.hit_rate);
      cell(tr, ret(g.mean), "gross-mean", g.mean);
      cell(tr, ret(n.mean), "net-mean" + (isNum(n.mean) ? (n.mean > 0 ? " pos" : " neg") : ""), n.mean);
      cell(tr, ci, "net-ci");
      cell(tr, num(n.t, 2), "net-t", n.t);
      cell(tr, pval(n.p_bh), "p-bh", n.p_bh);
      cell(tr, ret(a.mean), "first-mean", a.mean);
      cell(tr, num(a.t, 2), "first-t", a.t);
      cell(tr, ret(b.mean), "second-mean", b.mean);
      cell(tr, num(b.t, 2), "second-t", b.t);
      cell(tr, String(fig.at_limit), "at-limit", fig.at_limit);
      out.push(tr);
    }
    return out;
  }

  async function load() {
    const days = Number($("outcomes-days").value) || 60;
    const liquid = document.body.dataset.liquid === "1";
    const status = $("outcomes-status");
    const table = $("outcomes-table");
    const mine = ++asked;
    table.dataset.ready = "0";
    status.textContent = "loading…";
    let body;
    try {
      const res = await fetch("/signals/outcomes?days=" + days + (liquid ? "&liquid=true" : ""));
      body = await res.json();
      if (mine !== asked) return;
      if (!res.ok) { status.textContent = "HTTP " + res.status + " · " + (body.detail || ""); return; }
    } catch (err) {
      if (mine === asked) status.textContent = "cannot load outcomes: " + err.message;
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
    const passing = new Set((body.passing || []).map((p) => p.signal + " " + p.horizon));
    const lines = [[body.baseline, "baseline"], ...(body.families || []).map((f) => [f, "family"]),
                   ...(body.signals || []).map((s) => [s, ""])];
    for (const [line, kind] of lines) for (const tr of rows(line, kind, passing)) tbody.appendChild(tr);
    const c = body.costs || {};
    const halves = body.halves || {};
    status.textContent = body.status !== "OK"
      ? body.message || "no signal outcomes yet"
      : "sessions " + body.from + " … " + body.to + (liquid ? " · liquid view" : " · all instruments") +
        " · net of buy " + c.buy_fee_pct + " %, sell " + c.sell_fee_pct + " % (incl. tax), " + c.spread_ticks +
        " tick each way · halves " + (halves.first || []).join("…") + " | " + (halves.second || []).join("…") +
        " · BH over " + body.tests + " p values · " + body.verdict;
    table.dataset.liquid = liquid ? "1" : "0";
    table.dataset.ready = "1";
    window.__outcomes = body;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("outcomes-days").addEventListener("change", load);
    load();
  });
  document.addEventListener("liquidchange", load);
})();
