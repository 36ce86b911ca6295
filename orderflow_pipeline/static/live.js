/* The dashboard's live path (SPEC §16): on the live date the table, bubbles, minute chart and
 * footprint ladder follow GET /live/stream (EventSource) instead of the 60-s batch poll, and the
 * live chip shows the newest trade's age. When the stream is down, or the engine answers NO_LIVE,
 * the page falls back to polling the batch summary (app.js, as before) and the chip shows the
 * batch summary's age. A past date never goes live.
 *
 * No gap, no double count between snapshot and stream: the stream is opened first, events are
 * held while /live/summary is fetched, then only events newer than the snapshot's
 * X-Live-Event-Id are applied (a candle or item event replaces its candle or item, so applying
 * one twice would be harmless anyway, but an older one would step the screen back). A `reload`
 * event (the client fell behind, or the server restarted) fetches the snapshot again.
 */
"use strict";

(function () {
  const STATUS_STALE_MS = 12000; // the engine sends `status` every 2 s (>= every 5 s): 12 s silent = down
  const RETRY_MS = 3000; // an EventSource the browser gave up on (not an event stream) is reopened
  const $ = (id) => document.getElementById(id);
  const dash = () => window.__dash;

  const st = {
    mode: "connecting", // live | batch | connecting
    why: "connecting to the live stream", // why batch
    status: null, // the newest `status` event (or /live/status answer)
    statusAt: 0,
    snapshotId: null, // X-Live-Event-Id of the summary on screen
    held: null, // events held while a snapshot loads, else null
    es: null,
    loading: false,
    reconnected: false, // the stream opened before: a later open is a reconnect
    skippedBatch: false, // takeOver answered a load with the snapshot: its failure loads the batch
  };
  // For the browser test: when each (ticker, minute) first showed up and each applied event.
  const seen = { minutes: {}, candles: 0, items: 0, rows: {} };
  window.__live = { st: st, seen: seen };

  const liveDate = () => (st.status && st.status.status === "LIVE" ? st.status.date : null);
  const asked = () => $("date-input").value.trim();
  const wanted = (d) => !!liveDate() && (!d || d === liveDate());

  function setMode(mode, why) {
    const was = st.mode;
    st.mode = mode;
    st.why = why || "";
    document.body.dataset.live = mode;
    renderChip();
    if (was === "live" && mode === "batch") dash().loadSummary(); // fall back: the batch summary, polled
  }

  // ---- snapshot ----
  async function loadSnapshot() {
    if (st.loading) return;
    st.loading = true;
    st.held = st.held || [];
    try {
      const res = await fetch("/live/summary", { cache: "no-store" });
      const doc = await res.json();
      if (!res.ok || doc.status === "NO_LIVE" || !wanted(asked())) {
        st.held = null;
        if (st.mode === "live" || st.mode === "connecting") setMode("batch", doc.reason ? "no live trades (" + doc.reason + ")" : "no live summary");
        batchInstead();
        return;
      }
      st.skippedBatch = false;
      st.snapshotId = res.headers.get("X-Live-Event-Id");
      const held = st.held;
      st.held = null;
      st.mode = "live";
      document.body.dataset.live = "live";
      dash().applyDoc(doc, null);
      for (const [kind, data, id] of held) if (dash().newer(id, st.snapshotId)) apply(kind, data, id);
      renderChip();
      // an open minute chart / ladder of the live date: reload them from the live engine too
      const open = $("minute-chart").dataset.ticker;
      if (!$("minute-panel").hidden && open) dash().openMinute(open);
    } catch (err) {
      st.held = null;
      if (st.mode !== "batch") setMode("batch", "live summary unavailable (" + err.message + ")");
      batchInstead();
    } finally {
      st.loading = false;
    }
  }

  /* takeOver told app.js to skip its batch fetch and the snapshot then failed (the engine went
   * NO_LIVE between its status and /live/summary, or the request failed): without this the page
   * stayed on "Loading…" until the next poll. The batch load asks takeOver again, so the status
   * is marked not LIVE until the next `status` event says otherwise. */
  function batchInstead() {
    if (!st.skippedBatch) return;
    st.skippedBatch = false;
    if (st.status) st.status = Object.assign({}, st.status, { status: "NO_LIVE" });
    dash().loadSummary();
  }

  // ---- events ----
  function apply(kind, data, id) {
    if (kind === "candle") {
      seen.candles += 1;
      const k = data.t + "|" + data.t0;
      if (!(k in seen.minutes)) seen.minutes[k] = Date.now();
      dash().liveCandle(data, id);
    } else if (kind === "item") {
      seen.items += 1;
      if (!data.removed) seen.rows[data.t] = { v: data.v, at: Date.now() };
      dash().liveItem(data);
    }
  }

  function onData(kind) {
    return (e) => {
      if (st.mode !== "live" && st.held === null) return;
      const data = JSON.parse(e.data);
      if (st.held !== null) st.held.push([kind, data, e.lastEventId]);
      else apply(kind, data, e.lastEventId);
    };
  }

  function onStatus(s) {
    st.status = s;
    st.statusAt = Date.now();
    if (s.status === "LIVE" && wanted(asked())) {
      if (st.mode !== "live") loadSnapshot();
    } else if (st.mode === "live") {
      setMode("batch", s.status !== "LIVE" ? "no live trades (" + s.reason + ")" : "a past date: batch only");
    } else {
      const why = s.status !== "LIVE" ? "no live trades (" + s.reason + ")" : "a past date: batch only";
      if (st.mode === "connecting") setMode("batch", why); else st.why = why;
    }
    renderChip();
  }

  function connect() {
    if (st.es) st.es.close();
    const es = new EventSource("/live/stream");
    st.es = es;
    es.addEventListener("open", () => {
      // (re)connected: live again if the engine is LIVE, else the batch summary reloaded now
      // (the poll that ran while the API was down may have failed)
      fetch("/live/status", { cache: "no-store" }).then((r) => r.json()).then((s) => {
        onStatus(s);
        if (st.mode !== "live" && st.reconnected) dash().loadSummary();
        st.reconnected = true;
      }).catch(() => {});
    });
    es.addEventListener("status", (e) => onStatus(JSON.parse(e.data)));
    es.addEventListener("candle", onData("candle"));
    es.addEventListener("item", onData("item"));
    es.addEventListener("reload", () => { if (st.mode === "live") loadSnapshot(); });
    es.addEventListener("error", () => {
      if (st.mode !== "batch") setMode("batch", "live stream down");
      else st.why = "live stream down";
      st.status = null;
      renderChip();
      // CONNECTING: the browser retries by itself (retry: 1000); CLOSED: it gave up, so do we later
      if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (st.es === es) connect(); }, RETRY_MS);
    });
  }

  // ---- the chip: newest trade's age (live), or the batch summary's age ----
  function wibToday() {
    return new Date(Date.now() + 7 * 3600 * 1000).toISOString().slice(0, 10);
  }

  /* Seconds since the newest trade: by its trade time on today's session; on a replayed day (the
   * live date is not today) by when the engine received it, the only clock that means anything. */
  function tradeAge(s) {
    if (!s) return null;
    const byTrade = s.date === wibToday() && s.newest_trade_time;
    const iso = byTrade ? s.newest_trade_time : s.newest_trade_received_at;
    const t = iso ? Date.parse(iso) : NaN;
    return isNaN(t) ? null : { s: Math.max(0, (Date.now() - t) / 1000), byTrade: !!byTrade };
  }

  function renderChip() {
    const chip = $("live-chip");
    if (!chip) return;
    if (st.mode === "live" && Date.now() - st.statusAt > STATUS_STALE_MS) {
      setMode("batch", "live stream silent for " + Math.round((Date.now() - st.statusAt) / 1000) + " s");
      return;
    }
    chip.dataset.mode = st.mode;
    const s = st.status;
    if (st.mode === "live") {
      const age = tradeAge(s);
      const newest = s && s.newest_trade_time ? s.newest_trade_time.slice(11, 19) + " WIB" : "–";
      chip.dataset.ageS = age ? age.s.toFixed(1) : "";
      chip.textContent = "● LIVE · newest trade " + newest + (age ? " · " + fmtAge(age.s) + (age.byTrade ? "" : " (received)") : "") +
        " · " + (s ? s.trades.toLocaleString("en-US") : 0) + " trades";
      chip.title = "the live engine (SPEC §16): every trade as it arrives; the batch summary stays the record";
    } else {
      const doc = dash() && dash().state.doc;
      const gen = doc && doc.source !== "live" ? doc.generated_at : null;
      chip.dataset.ageS = gen ? String(Math.max(0, (Date.now() - Date.parse(gen)) / 1000).toFixed(0)) : "";
      chip.textContent = (st.mode === "connecting" ? "○ connecting" : "○ BATCH · " + st.why) +
        (gen ? " · summary generated " + dash().ageText(gen) : "");
      chip.title = "the batch summary (polled every 60 s); the live stream takes over on the live date";
    }
  }

  function fmtAge(s) {
    return s < 10 ? s.toFixed(1) + " s ago" : s < 90 ? Math.round(s) + " s ago" : dash().ageText(new Date(Date.now() - s * 1000).toISOString());
  }

  // ---- app.js asks: should the live path answer this load? ----
  window.Live = {
    /* A (re)load for date d: on the live date with the stream up, reload the live snapshot and
     * tell app.js to skip the batch fetch; otherwise leave live mode (a past date is batch only). */
    takeOver(d) {
      if (wanted(d) && st.es && st.es.readyState === EventSource.OPEN) {
        st.skippedBatch = true;
        loadSnapshot();
        return true;
      }
      if (st.mode === "live") {
        st.mode = "batch"; // not setMode: app.js is loading the batch summary right now
        st.why = d ? "a past date: batch only" : "no live trades";
        document.body.dataset.live = "batch";
        renderChip();
      }
      return false;
    },
    showing: () => st.mode === "live",
    isLive: (date) => st.mode === "live" && date === liveDate(),
  };

  setInterval(renderChip, 1000);
  document.addEventListener("DOMContentLoaded", () => { renderChip(); connect(); });
})();
