/* Orderflow scanner dashboard (SPEC §13): bubble chart + table from /footprint/summary, a status
 * banner for the read-side chain (OK / FALLBACK / NO_DATA), the seed's prediction labels, a signal
 * filter, auto-refresh every 60 s and a minute chart per ticker from /footprint-raw-hist.
 * On the live date the same views follow the live engine instead (live.js, SPEC §16): the
 * summary is /live/summary kept current by `item` events, the minute chart /live/footprint kept
 * current by `candle` events; this file draws, live.js decides which source is on screen.
 * No build step and no CDN: plain ES2017 plus the vendored ECharts. */
"use strict";

(function () {
  const REFRESH_MS = 60000;
  const RETRY_SOON_MS = 5000; // after a failed load (API unreachable or busy without Retry-After)
  const GREY = "#9ca3af";
  const WIB_OFFSET_MS = 7 * 3600 * 1000;
  const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
  // The seed's prediction labels (SPEC §13), first that holds: the one copy of their thresholds,
  // read by labelOf, the legend and each row's label reason. The signals' rules are the core's
  // (scoring.SIGNAL_RULES), served by GET /signals/why.
  const LABEL_RULES = [
    { label: "BREAKOUT", color: "#22c55e", when: [["div", ">", 5], ["d", ">", 2], ["p", ">=", -3]] },
    { label: "FALLING", color: "#ef4444", when: [["p", "<", -5]] },
    { label: "HEAVY SELL", color: "#b91c1c", when: [["div", ">", 5], ["d", "<", -2]] },
    { label: "WATCHING", color: "#3b82f6", when: [["div", ">", 3], ["p", ">=", -3]] },
  ];
  const OPS = { ">": (a, b) => a > b, "<": (a, b) => a < b, ">=": (a, b) => a >= b };
  const HELP = {
    t: "IDX ticker",
    label: "the seed's label (bubble colour), first that holds; see the legend",
    sig: "§9 signal, first rule of the table that holds; hover a row's Why for its numbers",
    why: "the rule that fired, with this ticker's numbers (computed by the server's scoring rules)",
    sc: "score: formula A (summary) or B (FALLBACK rescored from the warehouse), 0..1",
    d: "delta %: (buy − sell lots) / all lots × 100 over the day",
    p: "price %: (close − open) / open × 100",
    div: "divergence: |delta %| / (1 + |price %|), heavy flow with little price move",
    v: "lots traded (1 lot = 100 shares)",
    val: "traded value of the day, Rp (Σ minute lots × close × 100)",
    ins: "instrument kind from the ticker's form: share, etf, structured_warrant, warrant, right, other",
    r: "high − low (IDR)",
    f: "fluctuation: range / low × 100",
    ctx_net: "context z_ngr: z-score of the smart-money net of the broker summaries (day before); empty = no context",
    ctx_st: "context state from the broker summaries: ACCUMULATION, DISTRIBUTION, …",
    vel: "velocity: delta % of the last 60 minutes before the summary's newest minute",
    vel_accel: "velocity − delta %: is the last hour's flow stronger than the day's?",
  };
  const COLUMNS = [
    { key: "t", title: "Ticker", cls: "t" },
    { key: "label", title: "Label", cls: "label" },
    { key: "sig", title: "Signal", cls: "sig" },
    { key: "why", title: "Why", cls: "why" },
    { key: "sc", title: "Score", dp: 3 },
    { key: "d", title: "Delta %", dp: 2, signed: true },
    { key: "p", title: "Price %", dp: 2, signed: true },
    { key: "div", title: "Div", dp: 2 },
    { key: "v", title: "Vol (lots)", int: true },
    { key: "val", title: "Value (Rp)", int: true },
    { key: "ins", title: "Kind", cls: "ins" },
    { key: "h", title: "High", int: true },
    { key: "l", title: "Low", int: true },
    { key: "r", title: "Range", int: true },
    { key: "f", title: "Fluct %", dp: 2 },
    { key: "ctx_net", title: "Ctx z_ngr", dp: 2, signed: true },
    { key: "ctx_st", title: "Ctx state", cls: "ctx_st" },
    { key: "vel", title: "Vel", dp: 2, signed: true },
    { key: "vel_accel", title: "Vel accel", dp: 2, signed: true },
  ];

  // ---- JavaScript errors are shown, never swallowed (the browser test reads them too) ----
  window.__jsErrors = [];
  function reportError(msg) {
    window.__jsErrors.push(String(msg));
    const box = document.getElementById("js-errors");
    if (box) { box.hidden = false; box.textContent = "JavaScript error: " + window.__jsErrors.join(" | "); }
  }
  window.addEventListener("error", (e) => reportError(e.message || e));
  const $ = (id) => document.getElementById(id);
  window.addEventListener("unhandledrejection", (e) => reportError((e.reason && e.reason.message) || e.reason));

  // ---- the seed's prediction labels: first that holds ----
  const holds = (it, when) => when.every(([k, op, b]) => OPS[op](it[k], b));
  const ruleText = (r) => r.label + ": " + r.when.map(([k, op, b]) => k + " " + op + " " + b).join(", ");
  function labelOf(it) {
    const r = LABEL_RULES.find((r) => holds(it, r.when));
    return r ? r.label : it.sig || "NEUTRAL";
  }
  function labelWhy(it) {
    const r = LABEL_RULES.find((r) => holds(it, r.when));
    if (!r) return "no label rule holds: grey, showing the signal";
    return r.label + ": " + r.when.map(([k, op, b]) => k + " " + it[k] + " " + op + " " + b).join(", ");
  }
  const colorOf = (label) => (LABEL_RULES.find((r) => r.label === label) || { color: GREY }).color;
  window.__labelOf = labelOf;

  function renderLegend() {
    const labels = $("legend-labels");
    labels.textContent = "";
    for (const r of LABEL_RULES.concat([{ label: "other", color: GREY, text: "other: no label holds, the bubble is grey and the label shows the signal" }])) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = r.color;
      li.appendChild(sw);
      li.appendChild(document.createTextNode(r.text || ruleText(r)));
      labels.appendChild(li);
    }
    const sigs = $("legend-signals");
    const why = state.why;
    if (!why || !why.legend) return;
    sigs.textContent = "";
    for (const r of why.legend) {
      const li = document.createElement("li");
      li.dataset.signal = r.signal;
      li.textContent = (r.rule === null ? "–" : r.rule) + ". " + r.text;
      sigs.appendChild(li);
    }
    $("legend").dataset.ready = "1";
  }

  const state = { doc: null, why: null, items: [], filter: "", search: "", sortKey: null, sortDir: -1, nextRefresh: 0,
                  liquid: null, showAll: false };
  const bubbleEl = $("bubble-chart");
  const bubbleChart = echarts.init(bubbleEl, null, { renderer: "canvas" });
  let minuteChart = null;

  function fmt(v, col) {
    if (v === null || v === undefined) return "–";
    if (col.int) return Number(v).toLocaleString("en-US");
    if (col.dp !== undefined && typeof v === "number") return (col.signed && v > 0 ? "+" : "") + v.toFixed(col.dp);
    return String(v);
  }

  function ageText(iso) {
    if (!iso) return "unknown age";
    const t = Date.parse(iso);
    if (isNaN(t)) return "unknown age";
    let s = Math.max(0, Math.round((Date.now() - t) / 1000));
    if (s < 90) return s + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 172800) return (s / 3600).toFixed(1) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }

  // ---- status banner ----
  function renderBanner() {
    const el = $("status-banner");
    const doc = state.doc;
    if (!doc) return;
    const status = doc.status || "UNKNOWN";
    el.dataset.status = status;
    el.className = "banner " + ({ OK: "ok", FALLBACK: "fallback", NO_DATA: "nodata" }[status] || "error");
    el.textContent = "";
    const head = document.createElement("span");
    head.className = "status-word";
    head.textContent = status;
    el.appendChild(head);
    const why = state.why && state.why.date === doc.date ? state.why : null;
    const asked = why && why.asked;
    if (asked && asked !== doc.date) {
      // The asked date has no summary of its own: say which date is on screen instead, loudly.
      const a = document.createElement("span");
      a.className = "asked";
      a.textContent = "you asked for " + asked + " (" + weekday(asked) +
        (why.asked_trading_day === false ? ", not an IDX trading day" : "") + ") · showing " +
        doc.date + " (" + weekday(doc.date) + ")";
      el.appendChild(a);
    }
    const parts = [];
    if (status === "FALLBACK") {
      if (doc.reason) parts.push(doc.reason);
      if (why && why.formula === "B") {
        parts.push("rescored with formula B (the range score) from the warehouse: signals can differ from " +
                   doc.date + "'s own summary (formula A)");
      } else if (why && why.formula === "A") {
        parts.push("that day's own summary (formula A)");
      }
    }
    if (status === "NO_DATA") { parts.push(doc.reason || "NO_DATA"); if (doc.message) parts.push(doc.message); }
    if (doc.date) parts.push("date " + doc.date);
    if (doc.generated_at) parts.push("generated " + doc.generated_at + " (" + ageText(doc.generated_at) + ")");
    if (status !== "NO_DATA") {
      parts.push(doc.ctx_found ? "context " + (doc.ctx_date || "?") + " (ctx_found)" : "no smart-money context (ctx_found=false)");
      parts.push((doc.count !== undefined ? doc.count : state.items.length) + " tickers");
      if (doc.source) parts.push("source " + doc.source);
    }
    const detail = document.createElement("span");
    detail.className = "detail";
    detail.textContent = parts.join(" · ");
    el.appendChild(detail);
  }

  function weekday(iso) {
    const [y, m, d] = iso.split("-").map(Number);
    return WEEKDAYS[new Date(Date.UTC(y, m - 1, d)).getUTCDay()];
  }

  function showFetchError(msg) {
    const el = $("status-banner");
    el.dataset.status = "ERROR";
    el.className = "banner error";
    el.textContent = "ERROR · " + msg;
  }

  // ---- filter ----
  // The liquid view (issue 27), the default: the server's Filter (GET /liquidity: floor in rupiah
  // and instrument kinds, liquidity.py) applied to each item's val and ins, which the server
  // computed. An item without them (an older summary file) cannot pass the floor, as on the server.
  function liquidKeeps(it) {
    const f = state.liquid;
    return !f || state.showAll || (f.kinds.indexOf(it.ins) >= 0 && typeof it.val === "number" && it.val >= f.min_value);
  }

  function rupiah(v) {
    return v >= 1e12 ? v / 1e12 + " T" : v >= 1e9 ? v / 1e9 + " B" : v >= 1e6 ? v / 1e6 + " M" : String(v);
  }

  function renderLiquidToggle() {
    const btn = $("liquid-toggle");
    const f = state.liquid;
    // the outcomes panel (outcomes.js) follows the same view: told by body[data-liquid] + an event
    const liquid = f && !state.showAll ? "1" : "0";
    if (document.body.dataset.liquid !== liquid) {
      document.body.dataset.liquid = liquid;
      document.dispatchEvent(new CustomEvent("liquidchange"));
    }
    btn.hidden = !f;
    if (!f) return;
    const hidden = state.items.filter((it) => !liquidKeeps(it)).length;
    btn.setAttribute("aria-pressed", String(!state.showAll));
    btn.textContent = state.showAll
      ? "All instruments · show " + f.kinds.join("/") + " ≥ Rp " + rupiah(f.min_value) + " only"
      : f.kinds.join("/") + " ≥ Rp " + rupiah(f.min_value) + " · show all (" + hidden + " hidden)";
    btn.title = "the liquid view: instrument kind from the ticker's form, traded value of the day (Rp)";
  }

  function filtered() {
    return state.items.filter((it) => {
      if (!liquidKeeps(it)) return false;
      if (state.search && it.t.indexOf(state.search) !== 0) return false;
      if (!state.filter) return true;
      const [kind, val] = state.filter.split(":");
      return kind === "sig" ? it.sig === val : it.label === val;
    });
  }

  function renderFilterOptions() {
    const sel = $("signal-filter");
    const keep = sel.value;
    const sigs = Array.from(new Set(state.items.map((it) => it.sig))).sort();
    const labels = ["BREAKOUT", "FALLING", "HEAVY SELL", "WATCHING"];
    sel.textContent = "";
    const all = document.createElement("option");
    all.value = ""; all.textContent = "all";
    sel.appendChild(all);
    for (const [name, values, kind] of [["label", labels, "label"], ["signal", sigs, "sig"]]) {
      const g = document.createElement("optgroup");
      g.label = name;
      for (const v of values) {
        const o = document.createElement("option");
        o.value = kind + ":" + v;
        o.textContent = v + " (" + state.items.filter((it) => (kind === "sig" ? it.sig : it.label) === v).length + ")";
        g.appendChild(o);
      }
      sel.appendChild(g);
    }
    sel.value = Array.from(sel.options).some((o) => o.value === keep) ? keep : "";
    state.filter = sel.value;
  }

  // ---- bubble chart ----
  function renderBubbles() {
    const items = filtered();
    let maxS = 0;
    for (const it of items) maxS = Math.max(maxS, Math.sqrt(Math.abs(it.d * it.v)));
    const data = items.map((it) => {
      const s = maxS > 0 ? Math.sqrt(Math.abs(it.d * it.v)) / maxS : 0;
      return {
        name: it.t, t: it.t, value: [it.d, it.div], size: Math.max(4, 56 * s), item: it,
        itemStyle: { color: colorOf(it.label), opacity: 0.75, borderColor: "#0f1419", borderWidth: 0.5 },
        label: { show: s > 0.45 },
      };
    });
    bubbleChart.setOption({
      animation: false,
      grid: { left: 56, right: 24, top: 20, bottom: 48 },
      tooltip: {
        trigger: "item",
        formatter: (p) => {
          const it = p.data.item;
          return "<b>" + it.t + "</b> " + it.label + (it.label !== it.sig ? " · " + it.sig : "") +
            "<br>delta " + it.d + " % · price " + it.p + " % · div " + it.div +
            "<br>vol " + Number(it.v).toLocaleString("en-US") + " lots · score " + it.sc +
            (it.why ? "<br>" + it.why : "") + "<br>" + labelWhy(it);
        },
      },
      xAxis: { name: "delta %", nameLocation: "middle", nameGap: 28, type: "value", scale: true,
               splitLine: { lineStyle: { color: "#2a333d" } } },
      yAxis: { name: "div", type: "value", scale: true, splitLine: { lineStyle: { color: "#2a333d" } } },
      graphic: items.length ? [] : [{ type: "text", left: "center", top: "middle",
                                       style: { text: "No data", fill: "#8a96a3", fontSize: 20 } }],
      series: [{
        type: "scatter", data: data, symbolSize: (v, p) => p.data.size,
        label: { position: "top", formatter: "{b}", color: "#e6e9ed", fontSize: 10 },
        emphasis: { focus: "self", itemStyle: { opacity: 1, borderColor: "#fff", borderWidth: 1 } },
        markLine: { silent: true, symbol: "none", lineStyle: { color: "#4b5563", type: "dashed" },
                    data: [{ xAxis: 0 }], label: { show: false } },
      }],
    }, { notMerge: true });
    bubbleEl.dataset.bubbleCount = String(data.length);
    window.__bubbleCount = data.length;
  }
  bubbleChart.on("click", (p) => { if (p.data && p.data.t) openMinute(p.data.t); });
  // Pixel position of a ticker's bubble, so the browser test can click a real bubble.
  window.__bubblePixel = (t) => {
    const it = filtered().find((x) => x.t === t);
    if (!it) return null;
    const [x, y] = bubbleChart.convertToPixel({ seriesIndex: 0 }, [it.d, it.div]);
    const r = bubbleEl.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y };
  };

  // ---- table ----
  function renderHeader() {
    const tr = document.querySelector("#summary-table thead tr");
    tr.textContent = "";
    for (const col of COLUMNS) {
      const th = document.createElement("th");
      th.textContent = col.title;
      th.dataset.key = col.key;
      if (HELP[col.key]) th.title = HELP[col.key];
      if (col.cls) th.className = col.cls;
      th.addEventListener("click", () => {
        if (state.sortKey === col.key) state.sortDir = -state.sortDir;
        else { state.sortKey = col.key; state.sortDir = col.cls ? 1 : -1; }
        renderTable();
      });
      tr.appendChild(th);
    }
  }

  function renderTable() {
    let rows = filtered();
    if (state.sortKey) {
      const k = state.sortKey, dir = state.sortDir;
      rows = rows.slice().sort((a, b) => {
        const x = a[k], y = b[k];
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (x < y ? -1 : 1) * dir;
      });
    }
    for (const th of document.querySelectorAll("#summary-table th")) {
      th.classList.remove("sorted-asc", "sorted-desc");
      if (th.dataset.key === state.sortKey) th.classList.add(state.sortDir > 0 ? "sorted-asc" : "sorted-desc");
    }
    const body = document.querySelector("#summary-table tbody");
    const frag = document.createDocumentFragment();
    for (const it of rows) {
      const tr = document.createElement("tr");
      tr.dataset.ticker = it.t;
      for (const col of COLUMNS) {
        const td = document.createElement("td");
        const v = it[col.key];
        td.textContent = fmt(v, col);
        td.className = (col.cls || "") + (col.signed && typeof v === "number" ? (v > 0 ? " pos" : v < 0 ? " neg" : "") : "");
        if (col.key === "label") { td.style.color = colorOf(it.label); td.title = labelWhy(it); }
        tr.appendChild(td);
      }
      tr.addEventListener("click", () => openMinute(it.t));
      frag.appendChild(tr);
    }
    body.textContent = "";
    body.appendChild(frag);
    $("row-count").textContent = "(" + rows.length + " of " + state.items.length + ")";
  }

  function renderAll() {
    renderLiquidToggle();
    renderBubbles();
    renderTable();
    if (window.__debugPanel) window.__debugPanel.update(); // ?debug (static/debug.js)
  }

  // ---- data ----
  async function loadSummary() {
    const d = $("date-input").value.trim();
    state.nextRefresh = Date.now() + REFRESH_MS;
    // the liquid view's floor and kinds: asked once, before either path puts rows on screen (the
    // live summary is filtered as the batch one); without it the page shows every item
    if (!state.liquid) state.liquid = await fetch("/liquidity").then((r) => (r.ok ? r.json() : null)).catch(() => null);
    // live.js: on the live date with the stream up, the live summary is on screen (it reloads it)
    if (window.Live && window.Live.takeOver(d)) { loadSession(); return; }
    const q = d ? "?date=" + encodeURIComponent(d) : "";
    const url = "/footprint/summary" + q;
    loadSession();
    // The rule that fired per item and the signal legend: the server's scoring rules, for the
    // same (cached) summary body; the page still works without it.
    const whyP = fetch("/signals/why" + q).then((r) => (r.ok ? r.json() : null)).catch(() => null);
    let res;
    const started = performance.now();
    try {
      res = await fetch(url, { headers: { Accept: "application/json" } });
      state.meta = { url: url, http: res.status, ms: Math.round(performance.now() - started),
                     stale: res.headers.get("X-Stale"), etag: res.headers.get("ETag"), at: new Date().toISOString() };
    } catch (err) {
      showFetchError("cannot reach the API (" + err.message + ")");
      state.nextRefresh = Date.now() + RETRY_SOON_MS; // a restart takes seconds, not a poll
      return;
    }
    if (!res.ok) {
      // 503 = the warehouse is busy (a writer holds it): retry when the API says, not in 60 s
      const ra = Number(res.headers.get("Retry-After"));
      if (res.status === 503) state.nextRefresh = Date.now() + (ra > 0 ? ra * 1000 : RETRY_SOON_MS);
      let detail = res.statusText;
      try { detail = (await res.json()).detail || detail; } catch (e) { /* body was not JSON */ }
      showFetchError("HTTP " + res.status + " · " + detail);
      return;
    }
    const doc = await res.json();
    const why = await whyP;
    if (window.Live && window.Live.showing()) return; // the stream came back meanwhile: live wins
    applyDoc(doc, why);
  }

  /* Put a summary document on screen (batch or live). `why` = /signals/why of the same body, or
   * null (the live summary has none: the previous legend stays, rows show no reason). */
  function applyDoc(doc, why) {
    state.doc = doc;
    if (why) state.why = why;
    const reasons = (why && why.date === doc.date && why.items) || {};
    state.items = (doc.items || []).map((it) => Object.assign({}, it, { label: labelOf(it), why: reasons[it.t] || null }));
    window.__summary = doc;
    // The field shows the date on screen: the asked one, or (empty = follow the newest) as its hint.
    $("date-input").placeholder = doc.date || "YYYY-MM-DD";
    renderBanner();
    renderLegend();
    renderFilterOptions();
    renderAll();
    document.body.dataset.loaded = String((Number(document.body.dataset.loaded) || 0) + 1);
  }

  // ---- session chip: the IDX session now and the newest minute of tape ----
  async function loadSession() {
    const chip = $("session-chip");
    try {
      const res = await fetch("/session");
      if (!res.ok) throw new Error("HTTP " + res.status);
      const s = await res.json();
      chip.dataset.state = s.state;
      chip.textContent = s.state + (s.newest_tape_wib ? " · tape " + s.newest_tape_date + " " + s.newest_tape_wib + " WIB" : " · no tape");
      window.__session = s;
    } catch (err) {
      chip.dataset.state = "unknown";
      chip.textContent = "session unknown (" + err.message + ")";
    }
  }

  // ---- minute chart ----
  function hhmm(t0) {
    const d = new Date(t0 + WIB_OFFSET_MS);
    return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
  }

  async function openMinute(ticker) {
    const doc = state.doc;
    if (!doc || !doc.date) return;
    const panel = $("minute-panel");
    const el = $("minute-chart");
    panel.hidden = false;
    $("minute-title").textContent = ticker + " · " + doc.date + " · 1-minute footprint (WIB)";
    $("minute-status").textContent = "loading…";
    el.dataset.ticker = ticker;
    el.dataset.candles = "0";
    if (window.Footprint) window.Footprint.open(ticker, doc.date); // footprint.js: ladder, profile, CVD
    if (!minuteChart) minuteChart = echarts.init(el, null, { renderer: "canvas" });
    panel.scrollIntoView({ block: "nearest" });
    const live = doc.source === "live";
    const url = live ? "/live/footprint?kode=" + encodeURIComponent(ticker)
      : "/footprint-raw-hist?kode=" + encodeURIComponent(ticker) + "&date=" + doc.date;
    let body, res;
    try {
      res = await fetch(url);
      body = await res.json();
      if (!res.ok) { $("minute-status").textContent = "HTTP " + res.status + " · " + (body.detail || ""); return; }
    } catch (err) {
      $("minute-status").textContent = "cannot load minutes: " + err.message;
      return;
    }
    if (live) body = { candles: body.candles || [], source: "live", warehouse: "ok" };
    if ($("minute-chart").dataset.ticker !== ticker) return; // another ticker was opened meanwhile
    minute = { ticker: ticker, body: body, eventId: live ? res.headers.get("X-Live-Event-Id") : null };
    drawMinute();
  }

  let minute = null; // { ticker, body, eventId }: the open minute chart (live candles merge into it)

  function drawMinute() {
    const ticker = minute.ticker, body = minute.body, el = $("minute-chart");
    const candles = body.candles || [];
    const x = candles.map((c) => hhmm(c.t0));
    const k = candles.map((c) => [c.ohlc.o, c.ohlc.c, c.ohlc.l, c.ohlc.h]);
    let cum = 0;
    const deltas = candles.map((c) => ({ value: c.delta, itemStyle: { color: c.delta >= 0 ? "#22c55e" : "#ef4444" } }));
    const cvd = candles.map((c) => (cum += c.delta));
    const vol = candles.reduce((s, c) => s + c.vol, 0);
    $("minute-status").textContent = candles.length + " minutes · " + vol.toLocaleString("en-US") +
      " lots · cumulative delta " + cum.toLocaleString("en-US") + " · source " + body.source +
      (body.warehouse !== "ok" ? " (warehouse " + body.warehouse + ")" : "");
    minuteChart.setOption({
      animation: false,
      tooltip: {
        trigger: "axis", axisPointer: { type: "cross" },
        formatter: (ps) => {
          const i = ps[0].dataIndex, c = candles[i];
          return "<b>" + x[i] + " WIB</b><br>O " + c.ohlc.o + " H " + c.ohlc.h + " L " + c.ohlc.l + " C " + c.ohlc.c +
            "<br>vol " + c.vol + " · delta " + c.delta + " · cum " + cvd[i] + "<br>" + (c.levels || []).length + " price levels";
        },
      },
      axisPointer: { link: [{ xAxisIndex: "all" }] },
      grid: [{ left: 60, right: 60, top: 16, height: "52%" }, { left: 60, right: 60, top: "66%", height: "24%" }],
      xAxis: [
        { type: "category", data: x, gridIndex: 0, axisLabel: { show: false } },
        { type: "category", data: x, gridIndex: 1 },
      ],
      yAxis: [
        { type: "value", scale: true, gridIndex: 0, name: "price", splitLine: { lineStyle: { color: "#2a333d" } } },
        { type: "value", gridIndex: 1, name: "delta", splitLine: { lineStyle: { color: "#2a333d" } } },
        { type: "value", gridIndex: 1, name: "cum Δ", position: "right", splitLine: { show: false } },
      ],
      dataZoom: [{ type: "inside", xAxisIndex: [0, 1] }, { type: "slider", xAxisIndex: [0, 1], bottom: 4, height: 16 }],
      series: [
        { name: "price", type: "candlestick", data: k, xAxisIndex: 0, yAxisIndex: 0,
          itemStyle: { color: "#22c55e", color0: "#ef4444", borderColor: "#22c55e", borderColor0: "#ef4444" } },
        { name: "delta", type: "bar", data: deltas, xAxisIndex: 1, yAxisIndex: 1 },
        { name: "cumulative delta", type: "line", data: cvd, xAxisIndex: 1, yAxisIndex: 2, showSymbol: false,
          lineStyle: { color: "#f59e0b", width: 1.5 } },
      ],
    }, { notMerge: true });
    el.dataset.candles = String(candles.length);
    window.__minute = { ticker: ticker, candles: candles.length, cumDelta: cum };
  }
  window.__openMinute = openMinute;

  // ---- live updates (live.js calls these with the stream's events) ----
  /* Stream ids are "{epoch}-{n}": newer when another epoch (a restart: live.js reloads anyway)
   * or a larger n. What a snapshot already holds (n <= its id) is not applied twice. */
  function newer(id, than) {
    if (!than || !id) return true;
    const a = id.split("-"), b = than.split("-");
    return a[0] !== b[0] || Number(a[1]) > Number(b[1]);
  }
  let renderTimer = null;
  function scheduleRender() { // items change per trade: draw at most every 250 ms (SPEC §16's coalescing)
    if (renderTimer) return;
    renderTimer = setTimeout(() => {
      renderTimer = null;
      if (state.doc) state.doc.count = state.items.length;
      renderBanner();
      renderFilterOptions();
      renderAll();
      window.__liveRenders = (window.__liveRenders || 0) + 1;
    }, 250);
  }
  function liveItem(it) {
    const i = state.items.findIndex((x) => x.t === it.t);
    if (it.removed) { if (i >= 0) state.items.splice(i, 1); }
    else {
      const row = Object.assign({}, it, { label: labelOf(it), why: null });
      if (i >= 0) state.items[i] = row; else state.items.push(row);
    }
    scheduleRender();
  }
  let minuteTimer = null;
  function liveCandle(c, id) {
    if (window.Footprint) window.Footprint.liveCandle(c); // the ladder refetches its bars (throttled)
    if (!minute || minute.ticker !== c.t || minute.body.source !== "live" || !newer(id, minute.eventId)) return;
    const cs = minute.body.candles;
    const candle = Object.assign({}, c);
    delete candle.t;
    const i = cs.findIndex((x) => x.t0 === c.t0);
    if (i >= 0) cs[i] = candle; else { cs.push(candle); cs.sort((a, b) => a.t0 - b.t0); }
    if (!minuteTimer) minuteTimer = setTimeout(() => { minuteTimer = null; drawMinute(); }, 250);
  }
  // read by the ?debug panel (state, filtered) and live.js (the rest)
  window.__dash = { state: state, filtered: filtered, applyDoc: applyDoc, liveItem: liveItem, liveCandle: liveCandle,
                    loadSummary: loadSummary, openMinute: openMinute, newer: newer, ageText: ageText };

  // ---- wiring ----
  $("signal-filter").addEventListener("change", (e) => { state.filter = e.target.value; renderAll(); });
  $("liquid-toggle").addEventListener("click", () => { state.showAll = !state.showAll; renderAll(); });
  $("ticker-search").addEventListener("input", (e) => { state.search = e.target.value.trim().toUpperCase(); renderAll(); });
  $("date-input").addEventListener("change", loadSummary);
  // The calendar button: the browser's own picker, its ISO value copied into the text field.
  $("date-pick-btn").addEventListener("click", () => {
    const p = $("date-picker");
    p.value = $("date-input").value || (state.doc && state.doc.date) || "";
    if (p.showPicker) p.showPicker(); else p.click();
  });
  $("date-picker").addEventListener("change", (e) => { $("date-input").value = e.target.value; loadSummary(); });
  $("refresh-btn").addEventListener("click", loadSummary);
  $("minute-close").addEventListener("click", () => { $("minute-panel").hidden = true; });
  window.addEventListener("resize", () => { bubbleChart.resize(); if (minuteChart) minuteChart.resize(); });
  setInterval(() => {
    const s = Math.max(0, Math.round((state.nextRefresh - Date.now()) / 1000));
    $("refresh-info").textContent = window.Live && window.Live.showing() ? "live: updates per trade"
      : "auto-refresh in " + s + " s";
    if (state.nextRefresh && Date.now() >= state.nextRefresh) loadSummary();
  }, 1000);
  setInterval(renderBanner, 15000); // keep "generated … ago" honest between refreshes

  renderHeader();
  renderLegend();
  // Deep link (signal alerts carry one): /?date=YYYY-MM-DD&ticker=T opens that day and ticker.
  const link = new URLSearchParams(window.location.search);
  if (/^\d{4}-\d{2}-\d{2}$/.test(link.get("date") || "")) $("date-input").value = link.get("date");
  const linkTicker = (link.get("ticker") || "").toUpperCase();
  loadSummary().then(() => { if (/^[A-Z0-9-]{1,15}$/.test(linkTicker) && state.doc) openMinute(linkTicker); });
})();
