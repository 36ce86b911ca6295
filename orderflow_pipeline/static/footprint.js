/* Footprint chart (issue 21): for one ticker-day, per 1/5/15-minute bar the price ladder with
 * bid × ask lots at each price (bid = seller-initiated `av`, ask = buyer-initiated `bv`), the
 * diagonal imbalances highlighted, stacked imbalances as a strip, each bar's POC outlined, the
 * day's volume profile (value area, POC, VAH, VAL) on the side and the cumulative delta below.
 *
 * Every number comes from GET /footprint-raw-hist?kode=&date=&bar=: the bars, each bar's
 * `footprint[i]` (profile + imbalances) and the day's `profile` are computed by the server's
 * profile.py / bars.py. This file only looks them up and draws them (no formula is recomputed
 * here; the cumulative delta is a running sum of the served deltas, as the minute chart does).
 *
 * Drawn with the vendored ECharts, SVG renderer: the ladder's numbers are real text in the DOM,
 * crisp at any zoom, and the browser test reads them back.
 */
"use strict";

(function () {
  const WIB_OFFSET_MS = 7 * 3600 * 1000;
  // Colours are part of the contract with tests/test_footprint_chart.py (it counts them in the SVG).
  const C = {
    cell: "#243041", text: "#cbd5e1", imbBuy: "#16a34a", imbSell: "#dc2626", poc: "#f59e0b",
    stackBuy: "#4ade80", stackSell: "#f87171", profBuy: "#15803d", profSell: "#b91c1c",
    up: "#22c55e", down: "#ef4444", cvd: "#fb923c", pocLine: "#fbbf24", grid: "#2a333d", va: "rgba(59,130,246,0.10)",
  };
  const MIN_TEXT_W = 52; // px: narrower cells show only their shade
  const MIN_TEXT_H = 11;
  const COL_PX = 100; // target column width of the initial zoom window (room for 4-5 digit lots)

  const $ = (id) => document.getElementById(id);
  let chart = null;
  let current = null; // { ticker, date, bar, body }
  // What the last render drew, for the browser test: cells, imbalance marks, POC outlines.
  const drawn = { cells: 0, withText: 0, imbBuy: 0, imbSell: 0, poc: 0, stacks: 0 };

  function hhmm(t0) {
    const d = new Date(t0 + WIB_OFFSET_MS);
    return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
  }

  /* Half the smallest gap between the day's traded prices: the height of one ladder rung
   * (a drawing choice, the tick on this day's grid; the rules that use ticks live in profile.py). */
  function rungHalf(prices) {
    let gap = Infinity;
    for (let i = 1; i < prices.length; i++) gap = Math.min(gap, prices[i] - prices[i - 1]);
    return (isFinite(gap) && gap > 0 ? gap : 1) / 2;
  }

  /* One row per (bar, price): [barIndex, price, bv, av, imbBuy, imbSell, isPoc, volShare]. */
  function ladderRows(body) {
    const rows = [];
    const candles = body.candles || [];
    const fps = body.footprint || [];
    let maxVol = 1;
    for (const c of candles) for (const lv of c.levels) maxVol = Math.max(maxVol, lv.bv + lv.av);
    candles.forEach((c, i) => {
      const fp = fps[i] && fps[i].t0 === c.t0 ? fps[i] : null;
      const buy = new Set(fp ? fp.imbalances.buy : []);
      const sell = new Set(fp ? fp.imbalances.sell : []);
      const poc = fp && fp.profile ? fp.profile.poc : null;
      for (const lv of c.levels) {
        rows.push([i, lv.p, lv.bv, lv.av, buy.has(lv.p) ? 1 : 0, sell.has(lv.p) ? 1 : 0,
                   lv.p === poc ? 1 : 0, (lv.bv + lv.av) / maxVol]);
      }
    });
    return rows;
  }

  function stackRows(body) {
    const rows = [];
    (body.footprint || []).forEach((fp, i) => {
      for (const s of fp.imbalances.stacked) rows.push([i, s.lo, s.hi, s.side === "buy" ? 1 : 0, s.n]);
    });
    return rows;
  }

  function renderCell(half) {
    return function (params, api) {
      const i = api.value(0), p = api.value(1), bv = api.value(2), av = api.value(3);
      const imbBuy = api.value(4) === 1, imbSell = api.value(5) === 1, isPoc = api.value(6) === 1;
      const colW = api.size([1, 0])[0];
      const top = api.coord([i, p + half]);
      const bottom = api.coord([i, p - half]);
      const w = Math.max(2, colW * 0.86 - 6);
      const x = top[0] - colW * 0.43 + 6; // leave 6 px on the left for the OHLC bar
      const y = top[1];
      const h = Math.max(1, bottom[1] - top[1] - 1);
      const children = [{
        type: "rect", shape: { x: x, y: y, width: w, height: h },
        style: { fill: C.cell, opacity: 0.35 + 0.65 * api.value(7) },
      }];
      drawn.cells += 1;
      if (imbSell) { drawn.imbSell += 1; children.push({ type: "rect", shape: { x: x, y: y, width: w / 2, height: h }, style: { fill: C.imbSell, opacity: 0.85 } }); }
      if (imbBuy) { drawn.imbBuy += 1; children.push({ type: "rect", shape: { x: x + w / 2, y: y, width: w / 2, height: h }, style: { fill: C.imbBuy, opacity: 0.85 } }); }
      // Font fitted to the half cell each number has (monospace: ~0.6 em a digit); a cell too
      // small for legible numbers shows only its shade (zoom in to read it).
      const digits = Math.max(String(av).length, String(bv).length);
      const fs = Math.min(12, h - 2, (w / 2 - 7) / (0.62 * digits));
      if (w >= MIN_TEXT_W && h >= MIN_TEXT_H && fs >= 8) {
        drawn.withText += 1;
        const mid = y + h / 2;
        children.push(
          { type: "text", style: { x: x + w / 2 - 5, y: mid, text: String(av), align: "right", verticalAlign: "middle",
                                   fill: imbSell ? "#fff" : C.text, font: (imbSell ? "bold " : "") + fs + "px monospace" } },
          { type: "text", style: { x: x + w / 2, y: mid, text: "×", align: "center", verticalAlign: "middle",
                                   fill: "#64748b", font: fs + "px monospace" } },
          { type: "text", style: { x: x + w / 2 + 5, y: mid, text: String(bv), align: "left", verticalAlign: "middle",
                                   fill: imbBuy ? "#fff" : C.text, font: (imbBuy ? "bold " : "") + fs + "px monospace" } });
      }
      if (isPoc) {
        drawn.poc += 1;
        children.push({ type: "rect", shape: { x: x - 1, y: y - 1, width: w + 2, height: h + 2 },
                        style: { fill: "none", stroke: C.poc, lineWidth: 2 } });
      }
      return { type: "group", children: children };
    };
  }

  function renderStack(half) {
    return function (params, api) {
      const i = api.value(0), lo = api.value(1), hi = api.value(2), buy = api.value(3) === 1;
      const colW = api.size([1, 0])[0];
      const top = api.coord([i, hi + half]);
      const bottom = api.coord([i, lo - half]);
      drawn.stacks += 1;
      const x = buy ? top[0] + colW * 0.43 - 3 : top[0] - colW * 0.43 + 3;
      return { type: "rect", shape: { x: x, y: top[1], width: 3, height: bottom[1] - top[1] },
               style: { fill: buy ? C.stackBuy : C.stackSell } };
    };
  }

  /* A thin OHLC bar at the left edge of each column: wick high-low, body open-close. */
  function renderOhlc(params, api) {
    const i = api.value(0), o = api.value(1), c = api.value(2), l = api.value(3), h = api.value(4);
    const colW = api.size([1, 0])[0];
    const x = api.coord([i, h])[0] - colW * 0.43 + 2;
    const color = c >= o ? C.up : C.down;
    const yo = api.coord([i, o])[1], yc = api.coord([i, c])[1];
    return { type: "group", children: [
      { type: "line", shape: { x1: x, y1: api.coord([i, h])[1], x2: x, y2: api.coord([i, l])[1] }, style: { stroke: color, lineWidth: 1 } },
      { type: "rect", shape: { x: x - 2, y: Math.min(yo, yc), width: 4, height: Math.max(1, Math.abs(yc - yo)) }, style: { fill: color } },
    ] };
  }

  /* The day's profile on the side: per price the seller-initiated lots (red) then the
   * buyer-initiated lots (green); inside the value area brighter; the POC outlined. */
  function renderProfile(half, prof) {
    return function (params, api) {
      const p = api.value(0), bv = api.value(1), av = api.value(2);
      const inVa = p >= prof.val && p <= prof.vah;
      const y0 = api.coord([0, p + half])[1];
      const y1 = api.coord([0, p - half])[1];
      const x0 = api.coord([0, p])[0];
      const xa = api.coord([av, p])[0];
      const xb = api.coord([av + bv, p])[0];
      const h = Math.max(1, y1 - y0 - 1);
      const op = inVa ? 0.95 : 0.45;
      const children = [];
      if (av > 0) children.push({ type: "rect", shape: { x: x0, y: y0, width: xa - x0, height: h }, style: { fill: C.profSell, opacity: op } });
      if (bv > 0) children.push({ type: "rect", shape: { x: xa, y: y0, width: xb - xa, height: h }, style: { fill: C.profBuy, opacity: op } });
      if (p === prof.poc) children.push({ type: "rect", shape: { x: x0 - 1, y: y0 - 1, width: xb - x0 + 2, height: h + 2 }, style: { fill: "none", stroke: C.poc, lineWidth: 2 } });
      return { type: "group", children: children };
    };
  }

  function status(text) { $("footprint-status").textContent = text; }

  function draw(body) {
    const el = $("footprint-chart");
    if (!chart) chart = echarts.init(el, null, { renderer: "svg" });
    for (const k of Object.keys(drawn)) drawn[k] = 0;
    const candles = body.candles || [];
    if (!candles.length) {
      chart.clear();
      chart.setOption({ graphic: [{ type: "text", left: "center", top: "middle",
                                    style: { text: "No minutes for this ticker and day", fill: "#8a96a3", fontSize: 18 } }] });
      el.dataset.cells = "0";
      return { cvd: 0, first: 0 };
    }
    const prof = body.profile;
    const dayLevels = prof ? prof.levels : [];
    const prices = dayLevels.map((lv) => lv.p);
    const half = rungHalf(prices);
    const x = candles.map((c) => hhmm(c.t0));
    let cum = 0;
    const cvd = candles.map((c) => (cum += c.delta));
    const deltas = candles.map((c) => ({ value: c.delta, itemStyle: { color: c.delta >= 0 ? C.up : C.down } }));
    const lo = Math.min.apply(null, prices.concat(candles.map((c) => c.ohlc.l))) - half * 2;
    const hi = Math.max.apply(null, prices.concat(candles.map((c) => c.ohlc.h))) + half * 2;
    const width = el.clientWidth || 1200;
    const visible = Math.max(4, Math.floor((width * 0.74) / COL_PX));
    const startPct = candles.length > visible ? 100 * (1 - visible / candles.length) : 0;
    // Prices in view at first: those of the bars in the initial window (a full day's range on a
    // volatile name would make every rung a few pixels high); shift+wheel or drag zooms out.
    const inView = candles.slice(-visible);
    const yFrom = Math.min(...inView.map((c) => c.ohlc.l)) - half * 2;
    const yTo = Math.max(...inView.map((c) => c.ohlc.h)) + half * 2;
    const maxProf = Math.max(1, ...dayLevels.map((lv) => lv.bv + lv.av));
    const yAxisBase = { type: "value", min: lo, max: hi, scale: true, splitLine: { lineStyle: { color: C.grid } },
                        axisLabel: { color: "#8a96a3" } };
    // One line per distinct price, its label naming every mark there ("POC 4030", "VAH 4030" on
    // one price would overprint each other).
    const profMarks = [];
    if (prof) {
      for (const [name, price] of [["POC", prof.poc], ["VAH", prof.vah], ["VAL", prof.val]]) {
        const same = profMarks.find((m) => m.yAxis === price);
        if (same) { same.name += " · " + name + " " + price; continue; }
        profMarks.push({ yAxis: price, name: name + " " + price,
                         lineStyle: name === "POC" ? { color: C.pocLine, type: "solid" } : { color: "#60a5fa", type: "dashed" } });
      }
    }
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", confine: true, formatter: tooltip },
      axisPointer: { link: [{ xAxisIndex: [0, 2] }] },
      grid: [
        { left: 64, right: "25%", top: 12, height: "64%" },
        { left: "77%", right: 64, top: 12, height: "64%" },
        { left: 64, right: "25%", top: "80%", height: "13%" },
      ],
      xAxis: [
        { type: "category", data: x, gridIndex: 0, axisLabel: { color: "#8a96a3" }, splitLine: { show: false } },
        { type: "value", gridIndex: 1, min: 0, max: maxProf * 1.05, axisLabel: { show: false }, splitLine: { show: false },
          name: "day profile", nameLocation: "middle", nameGap: 8, nameTextStyle: { color: "#8a96a3" } },
        { type: "category", data: x, gridIndex: 2, axisLabel: { show: false } },
      ],
      yAxis: [
        Object.assign({ gridIndex: 0, name: "price" }, yAxisBase),
        Object.assign({ gridIndex: 1, position: "right" }, yAxisBase),
        { type: "value", gridIndex: 2, name: "CVD", scale: true, splitLine: { lineStyle: { color: C.grid } },
          axisLabel: { color: "#8a96a3" } },
        { type: "value", gridIndex: 2, position: "right", splitLine: { show: false }, axisLabel: { show: false } },
      ],
      dataZoom: [
        { type: "inside", xAxisIndex: [0, 2], start: startPct, end: 100 },
        { type: "slider", xAxisIndex: [0, 2], start: startPct, end: 100, bottom: 2, height: 14 },
        { type: "inside", yAxisIndex: [0, 1], orient: "vertical", filterMode: "none", zoomOnMouseWheel: "shift",
          startValue: yFrom, endValue: yTo },
      ],
      series: [
        { name: "ladder", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderCell(half),
          data: ladderRows(body), encode: { x: 0, y: 1, tooltip: [2, 3] }, clip: true },
        { name: "stacked imbalances", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderStack(half),
          data: stackRows(body), encode: { x: 0, y: [1, 2] }, clip: true, silent: true },
        { name: "ohlc", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderOhlc, silent: true, clip: true,
          data: candles.map((c, i) => [i, c.ohlc.o, c.ohlc.c, c.ohlc.l, c.ohlc.h]), encode: { x: 0, y: [1, 2, 3, 4] } },
        { name: "profile", type: "custom", xAxisIndex: 1, yAxisIndex: 1, clip: true,
          renderItem: prof ? renderProfile(half, prof) : () => null,
          data: dayLevels.map((lv) => [lv.p, lv.bv, lv.av]), encode: { x: [1, 2], y: 0 },
          markArea: prof ? { silent: true, itemStyle: { color: C.va }, data: [[{ yAxis: prof.val - half }, { yAxis: prof.vah + half }]] } : undefined,
          markLine: prof ? { silent: true, symbol: "none", label: { position: "insideEndTop", formatter: "{b}", color: "#e6e9ed", fontSize: 11 },
                             data: profMarks } : undefined },
        { name: "delta", type: "bar", xAxisIndex: 2, yAxisIndex: 3, data: deltas, barMaxWidth: 18 },
        { name: "CVD", type: "line", xAxisIndex: 2, yAxisIndex: 2, data: cvd, showSymbol: false,
          lineStyle: { color: C.cvd, width: 1.5 } },
      ],
    }, { notMerge: true });
    el.dataset.cells = String(drawn.cells);
    return { cvd: cum, first: Math.max(0, candles.length - visible) };
  }

  function tooltip(p) {
    const body = current && current.body;
    if (!body) return "";
    if (p.seriesName === "ladder") {
      const [i, price, bv, av, ib, is, poc] = p.value;
      const c = body.candles[i];
      return "<b>" + hhmm(c.t0) + " WIB · " + price + "</b><br>bid (sell) " + av + " × ask (buy) " + bv +
        (ib ? "<br><b style='color:" + C.imbBuy + "'>buy imbalance</b>" : "") +
        (is ? "<br><b style='color:" + C.imbSell + "'>sell imbalance</b>" : "") + (poc ? "<br>bar POC" : "");
    }
    if (p.seriesName === "profile") {
      return "<b>" + p.value[0] + "</b> day: sell " + p.value[2] + " · buy " + p.value[1];
    }
    if (p.seriesName === "CVD" || p.seriesName === "delta") return p.name + " · " + p.seriesName + " " + p.value;
    return "";
  }

  async function open(ticker, date, bar) {
    const panel = $("footprint-panel");
    panel.hidden = false;
    bar = Number(bar || $("footprint-bar").value || 1);
    $("footprint-bar").value = String(bar);
    const el = $("footprint-chart");
    el.dataset.ticker = ticker;
    el.dataset.bar = String(bar);
    el.dataset.ready = "0";
    $("footprint-title").textContent = ticker + " · " + date + " · footprint, " + bar + "-minute bars (WIB)";
    status("loading…");
    current = { ticker: ticker, date: date, bar: bar, body: null };
    let body;
    try {
      const res = await fetch("/footprint-raw-hist?kode=" + encodeURIComponent(ticker) + "&date=" + encodeURIComponent(date) + "&bar=" + bar);
      body = await res.json();
      if (!res.ok) { status("HTTP " + res.status + " · " + (body.detail || "")); return; }
    } catch (err) {
      status("cannot load the footprint: " + err.message);
      return;
    }
    if (current.ticker !== ticker || current.bar !== bar) return; // a newer request won
    current.body = body;
    const out = draw(body);
    const prof = body.profile;
    const imb = body.imbalances || {};
    status((body.candles || []).length + " bars · " +
      (prof ? "POC " + prof.poc + " · VAH " + prof.vah + " · VAL " + prof.val + " · " : "no levels · ") +
      "imbalances buy " + (imb.buy || 0) + " / sell " + (imb.sell || 0) + " (ratio " + imb.ratio + ", ≥ " + imb.min_lots +
      " lot) · stacks " + ((imb.stacked_buy || 0) + (imb.stacked_sell || 0)) + " · CVD " + out.cvd.toLocaleString("en-US") +
      " · source " + body.source);
    el.dataset.ready = "1";
    // first: index of the first bar in the initial zoom window (the newest bars are in view)
    window.__footprint = { ticker: ticker, date: date, bar: bar, body: body, drawn: Object.assign({}, drawn),
                           cvd: out.cvd, first: out.first };
  }

  /* Redraws (zoom, resize) re-run renderItem: keep the test's view of what is drawn current. */
  function refreshDrawn() {
    if (window.__footprint) window.__footprint.drawn = Object.assign({}, drawn);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("footprint-bar").addEventListener("change", (e) => { if (current) open(current.ticker, current.date, Number(e.target.value)); });
    $("footprint-close").addEventListener("click", () => { $("footprint-panel").hidden = true; });
    window.addEventListener("resize", () => { if (chart) { for (const k of Object.keys(drawn)) drawn[k] = 0; chart.resize(); refreshDrawn(); } });
  });

  window.Footprint = { open: open };
})();
