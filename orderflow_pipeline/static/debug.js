/* The seed's "?debug" mode (issue 19): open the dashboard as /?debug and a panel shows, and the
 * console logs, what the on-call engineer asks first — the API response metadata (HTTP status,
 * X-Stale, ETag, time taken, status/reason/count/source/date/generated_at/ctx), the fallback
 * reason, the signal (and label) distribution, and the filter counts (rows shown of total,
 * bubbles drawn). Reads only what app.js exposes on window.__dash; changes nothing. */
"use strict";

(function () {
  if (!new URLSearchParams(location.search).has("debug")) return;
  const panel = document.getElementById("debug-panel");
  const body = document.getElementById("debug-body");
  panel.hidden = false;

  function table(title, id, rows) {
    const box = document.createElement("div");
    const h = document.createElement("h3");
    h.textContent = title;
    h.className = "muted";
    box.appendChild(h);
    const t = document.createElement("table");
    t.id = id;
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = k;
      const td = document.createElement("td");
      td.textContent = v === null || v === undefined ? "–" : String(v);
      td.dataset.key = k;
      tr.append(th, td);
      t.appendChild(tr);
    }
    box.appendChild(t);
    return box;
  }

  function counts(items, key) {
    const out = {};
    for (const it of items) out[it[key]] = (out[it[key]] || 0) + 1;
    return Object.entries(out).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  }

  function fallbackReason(doc) {
    if (!doc) return "no response yet";
    if (doc.status === "OK") return "none (L0: the pipeline's summary file)";
    if (doc.status === "FALLBACK") return doc.reason + " (L1: recomputed from an earlier session)";
    return (doc.reason || "NO_DATA") + (doc.message ? " — " + doc.message : "") + " (L2)";
  }

  function update() {
    const dash = window.__dash;
    if (!dash) return;
    const st = dash.state, doc = st.doc || {}, meta = st.meta || {};
    const shown = dash.filtered();
    const info = {
      response: { url: meta.url, http: meta.http, ms: meta.ms, "x-stale": meta.stale || "no", etag: meta.etag,
                  fetched_at: meta.at, status: doc.status, reason: doc.reason, message: doc.message,
                  count: doc.count, items: (doc.items || []).length, source: doc.source, date: doc.date,
                  generated_at: doc.generated_at, ctx_date: doc.ctx_date, ctx_found: doc.ctx_found },
      fallback: fallbackReason(st.doc),
      signals: counts(st.items, "sig"),
      labels: counts(st.items, "label"),
      filters: { signal_filter: st.filter || "all", search: st.search || "–", rows_shown: shown.length,
                 rows_total: st.items.length, rows_hidden: st.items.length - shown.length,
                 bubbles: Number(document.getElementById("bubble-chart").dataset.bubbleCount || 0) },
    };
    body.textContent = "";
    body.appendChild(table("API response", "debug-response", Object.entries(info.response)));
    body.appendChild(table("Fallback", "debug-fallback", [["reason", info.fallback]]));
    body.appendChild(table("Signal distribution", "debug-signals", info.signals));
    body.appendChild(table("Label distribution", "debug-labels", info.labels));
    body.appendChild(table("Filter / render", "debug-filters", Object.entries(info.filters)));
    window.__debugInfo = info;
    console.info("[orderflow debug] response", info.response);
    if (doc.status && doc.status !== "OK") console.warn("[orderflow debug] fallback:", info.fallback);
    console.info("[orderflow debug] signals", Object.fromEntries(info.signals));
    console.info("[orderflow debug] filters", info.filters);
  }

  window.__debugPanel = { update: update };
  update();
})();
