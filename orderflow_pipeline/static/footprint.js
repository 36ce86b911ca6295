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
    auction: "#8b5cf6", phase: "rgba(139,92,246,0.12)",
  };
  const MIN_TEXT_W = 52; // px: narrower cells show only their shade
  const MIN_TEXT_H = 11;
  const COL_PX = 100; // target column width of the initial zoom window (room for "74.6k × 138k")
  const ROW_PX = 18; // px per smallest tick of the day: every rung tall enough for its numbers
  const MAX_CHART_PX = 12000; // a day with thousands of rungs gets thinner rows instead
  const GRID_MIN_PX = 36; // gridlines at least this far apart
  const PHASE_LABEL = { "pre-open": "pre-open auction", "pre-close": "pre-close auction", post: "post-trading",
                        lunch: "lunch", closed: "closed" };

  const $ = (id) => document.getElementById(id);
  let chart = null;
  let cvdChart = null;
  let syncing = false;
  let current = null; // { ticker, date, bar, body }
  // What the last render drew, for the browser test: cells, imbalance marks, POC outlines.
  const drawn = { cells: 0, withText: 0, imbBuy: 0, imbSell: 0, poc: 0, stacks: 0, auctions: 0 };

  function hhmm(t0) {
    const d = new Date(t0 + WIB_OFFSET_MS);
    return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
  }

  /* Lots in at most 5 characters: exact below 10,000, else 3 significant digits rounded half up
   * with k / M / B, trailing zeros dropped (74625 -> 74.6k, 138318 -> 138k, 1530000 -> 1.53M).
   * Integer arithmetic, so a tie (12250) rounds up, never by the binary value of 12.25. */
  function fmtLots(n) {
    const neg = n < 0;
    let a = Math.abs(Math.round(n));
    if (a < 10000) return String(n);
    let e = String(a).length - 3;
    let r = Math.round(a / Math.pow(10, e));
    if (r >= 1000) { r = Math.round(r / 10); e += 1; }
    a = r * Math.pow(10, e); // the rounded value
    const digits = String(a).length;
    const [unit, suf] = digits > 9 ? [9, "B"] : digits > 6 ? [6, "M"] : [3, "k"];
    const shift = unit - e; // decimal places of r in that unit
    let txt = shift <= 0 ? String(r) + "0".repeat(-shift)
      : (String(r).padStart(shift + 1, "0").slice(0, -shift) + "." + String(r).slice(-shift)).replace(/\.?0+$/, "");
    return (neg ? "-" : "") + txt + suf;
  }
  window.__fmtLots = fmtLots;

  /* The IDX tick of a price from the table the API serves (read/profile.py's TICK_EDGES/TICKS,
   * bisect_right): no copy of the table lives here. Without it, the smallest gap of the day. */
  function tickOf(body) {
    const t = body.ticks;
    if (t && t.edges && t.sizes) {
      return (p) => { let i = 0; while (i < t.edges.length && p >= t.edges[i]) i++; return t.sizes[i]; };
    }
    const prices = (body.profile ? body.profile.levels : []).map((lv) => lv.p);
    let gap = Infinity;
    for (let i = 1; i < prices.length; i++) gap = Math.min(gap, prices[i] - prices[i - 1]);
    const g = isFinite(gap) && gap > 0 ? gap : 1;
    return () => g;
  }

  const gcd = (a, b) => (b ? gcd(b, a % b) : a);

  /* Gridline step: a multiple of every tick in [lo, hi] (their lcm: 2 and 5 -> 10), so each line is
   * a real price of its band; the smallest such multiple (×1, 2, 5, 10, …) at least GRID_MIN_PX apart. */
  function gridStep(lo, hi, tick, pxPerUnit, edges) {
    let base = tick(lo);
    for (const e of (edges || []).filter((e) => e > lo && e <= hi).concat([hi])) {
      const t = tick(e);
      base = base / gcd(base, t) * t;
    }
    for (let m = 1; ; m *= 10) {
      for (const k of [1, 2, 5]) if (base * k * m * pxPerUnit >= GRID_MIN_PX) return base * k * m;
    }
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

  function renderCell(halfOf) {
    return function (params, api) {
      const i = api.value(0), p = api.value(1), bv = api.value(2), av = api.value(3);
      const imbBuy = api.value(4) === 1, imbSell = api.value(5) === 1, isPoc = api.value(6) === 1;
      const half = halfOf(p);
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
      // Numbers abbreviated to at most 5 characters (fmtLots), the font fitted to the half cell each
      // has (monospace: ~0.6 em a character); only a cell too small even for that shows just its
      // shade (zoom in to read it; the tooltip has the exact lots).
      const sa = fmtLots(av), sb = fmtLots(bv);
      const chars = Math.max(sa.length, sb.length);
      const fs = Math.min(12, h - 2, (w / 2 - 7) / (0.62 * chars));
      if (w >= MIN_TEXT_W && h >= MIN_TEXT_H && fs >= 8) {
        drawn.withText += 1;
        const mid = y + h / 2;
        children.push(
          { type: "text", style: { x: x + w / 2 - 5, y: mid, text: sa, align: "right", verticalAlign: "middle",
                                   fill: imbSell ? "#fff" : C.text, font: (imbSell ? "bold " : "") + fs + "px monospace" } },
          { type: "text", style: { x: x + w / 2, y: mid, text: "×", align: "center", verticalAlign: "middle",
                                   fill: "#64748b", font: fs + "px monospace" } },
          { type: "text", style: { x: x + w / 2 + 5, y: mid, text: sb, align: "left", verticalAlign: "middle",
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

  function renderStack(halfOf) {
    return function (params, api) {
      const i = api.value(0), lo = api.value(1), hi = api.value(2), buy = api.value(3) === 1;
      const colW = api.size([1, 0])[0];
      const top = api.coord([i, hi + halfOf(hi)]);
      const bottom = api.coord([i, lo - halfOf(lo)]);
      drawn.stacks += 1;
      const x = buy ? top[0] + colW * 0.43 - 3 : top[0] - colW * 0.43 + 3;
      return { type: "rect", shape: { x: x, y: top[1], width: 3, height: bottom[1] - top[1] },
               style: { fill: buy ? C.stackBuy : C.stackSell } };
    };
  }

  /* An auction (or post-trading) bar: its prints have no aggressor, so no bid × ask ladder; one
   * dashed box at the matched price with the unsided lots. */
  function renderAuction(halfOf) {
    return function (params, api) {
      const i = api.value(0), p = api.value(1), lots = api.value(2);
      const half = halfOf(p);
      const colW = api.size([1, 0])[0];
      const top = api.coord([i, p + half]);
      const bottom = api.coord([i, p - half]);
      const w = Math.max(2, colW * 0.86 - 6);
      const x = top[0] - colW * 0.43 + 6;
      const h = Math.max(1, bottom[1] - top[1] - 1);
      drawn.auctions += 1;
      const children = [{ type: "rect", shape: { x: x, y: top[1], width: w, height: h },
                          style: { fill: C.auction, opacity: 0.35, stroke: C.auction, lineDash: [3, 2] } }];
      const text = "auction " + fmtLots(lots);
      const fs = Math.min(11, h - 2, (w - 6) / (0.62 * text.length));
      if (w >= MIN_TEXT_W && fs >= 7) {
        children.push({ type: "text", style: { x: x + w / 2, y: top[1] + h / 2, text: text,
                                               align: "center", verticalAlign: "middle", fill: "#ede9fe", font: fs + "px monospace" } });
      }
      return { type: "group", children: children };
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
  function renderProfile(halfOf, prof) {
    return function (params, api) {
      const p = api.value(0), bv = api.value(1), av = api.value(2);
      const half = halfOf(p);
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

  /* Runs of bars outside the continuous sessions (auctions, post-trading), as shaded, labelled
   * columns: [[{xAxis: first, name}, {xAxis: last}], …]. */
  function phaseAreas(x, phases) {
    const out = [];
    for (let i = 0; i < x.length; i++) {
      const ph = phases[i];
      if (!ph || ph === "session 1" || ph === "session 2") continue;
      const last = out[out.length - 1];
      if (last && last.ph === ph && last.end === i - 1) { last.end = i; continue; }
      out.push({ ph: ph, start: i, end: i });
    }
    return out.map((a) => [{ xAxis: x[a.start], name: PHASE_LABEL[a.ph] || a.ph }, { xAxis: x[a.end] }]);
  }

  function linkZoom(a, b) {
    a.on("datazoom", () => {
      if (syncing) return;
      const dz = a.getOption().dataZoom[0];
      syncing = true;
      try { b.dispatchAction({ type: "dataZoom", start: dz.start, end: dz.end }); } finally { syncing = false; }
    });
  }

  function ensureCharts() {
    if (chart) return;
    chart = echarts.init($("footprint-chart"), null, { renderer: "svg" });
    cvdChart = echarts.init($("footprint-cvd"), null, { renderer: "svg" });
    linkZoom(chart, cvdChart);
    linkZoom(cvdChart, chart);
  }

  function draw(body) {
    const el = $("footprint-chart");
    const scroller = $("footprint-scroll");
    ensureCharts();
    for (const k of Object.keys(drawn)) drawn[k] = 0;
    const candles = body.candles || [];
    if (!candles.length) {
      el.style.height = scroller.clientHeight + "px";
      chart.resize();
      chart.clear();
      cvdChart.clear();
      chart.setOption({ graphic: [{ type: "text", left: "center", top: "middle",
                                    style: { text: "No minutes for this ticker and day", fill: "#8a96a3", fontSize: 18 } }] });
      el.dataset.cells = "0";
      return { cvd: 0, first: 0 };
    }
    const prof = body.profile;
    const dayLevels = prof ? prof.levels : [];
    const prices = dayLevels.map((lv) => lv.p);
    const tick = tickOf(body);
    const halfOf = (p) => tick(p) / 2;
    const phases = body.phases || [];
    const x = candles.map((c) => hhmm(c.t0));
    let cum = 0;
    const cvd = candles.map((c) => (cum += c.delta));
    const deltas = candles.map((c) => ({ value: c.delta, itemStyle: { color: c.delta >= 0 ? C.up : C.down } }));

    // The price axis spans the day's traded range (every level of the day profile in it), at
    // ROW_PX per smallest tick; the chart is as tall as that needs and its box scrolls.
    const lo = Math.min.apply(null, prices.concat(candles.map((c) => c.ohlc.l)));
    const hi = Math.max.apply(null, prices.concat(candles.map((c) => c.ohlc.h)));
    let minTick = tick(lo);
    for (const p of prices) minTick = Math.min(minTick, tick(p));
    const TOP = 30, BOTTOM = 10;
    let pxPerUnit = ROW_PX / minTick;
    const edges = body.ticks ? body.ticks.edges : [];
    let step = gridStep(lo, hi, tick, pxPerUnit, edges);
    let yMin = Math.floor((lo - tick(lo)) / step) * step;
    let yMax = Math.ceil((hi + tick(hi)) / step) * step;
    if ((yMax - yMin) * pxPerUnit > MAX_CHART_PX) {
      pxPerUnit = MAX_CHART_PX / (yMax - yMin);
      step = gridStep(lo, hi, tick, pxPerUnit, edges);
      yMin = Math.floor((lo - tick(lo)) / step) * step;
      yMax = Math.ceil((hi + tick(hi)) / step) * step;
    }
    const height = Math.max(scroller.clientHeight, Math.round((yMax - yMin) * pxPerUnit) + TOP + BOTTOM);
    const stretched = (height - TOP - BOTTOM) / (yMax - yMin); // a narrow day fills the box: finer lines
    const fine = gridStep(lo, hi, tick, stretched, edges);
    if (fine < step && yMin % fine === 0 && yMax % fine === 0) step = fine;
    el.style.height = height + "px";
    chart.resize();
    cvdChart.resize();
    for (const k of Object.keys(drawn)) drawn[k] = 0; // resize re-rendered the previous option

    const width = el.clientWidth || 1200;
    const gridW = Math.round(width * 0.75) - 64; // ladder; the CVD panel below uses the same columns
    const visible = Math.max(4, Math.floor(gridW / COL_PX));
    const startPct = candles.length > visible ? 100 * (1 - visible / candles.length) : 0;
    const maxProf = Math.max(1, ...dayLevels.map((lv) => lv.bv + lv.av));
    const axisLabel = { color: "#8a96a3" };
    const priceAxis = { type: "value", min: yMin, max: yMax, interval: step, splitLine: { lineStyle: { color: C.grid } },
                        axisLabel: axisLabel };
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
    const areas = phaseAreas(x, phases);
    const auctions = [];
    candles.forEach((c, i) => {
      const ph = phases[i];
      if (!ph || ph === "session 1" || ph === "session 2") return;
      const unsided = c.vol - c.levels.reduce((s, lv) => s + lv.bv + lv.av, 0);
      if (unsided > 0) auctions.push([i, c.ohlc.c, unsided]);
    });
    const zoomInside = { type: "inside", start: startPct, end: 100, zoomOnMouseWheel: "shift", moveOnMouseWheel: false };
    chart.setOption({
      animation: false,
      tooltip: { trigger: "item", confine: true, formatter: tooltip },
      grid: [
        { left: 64, width: gridW, top: TOP, bottom: BOTTOM },
        { left: Math.round(width * 0.77), right: 64, top: TOP, bottom: BOTTOM },
      ],
      xAxis: [
        { type: "category", data: x, gridIndex: 0, position: "top", axisLabel: axisLabel, splitLine: { show: false } },
        { type: "value", gridIndex: 1, min: 0, max: maxProf * 1.05, position: "top", splitNumber: 3,
          axisLabel: Object.assign({ formatter: fmtLots }, axisLabel), splitLine: { show: false },
          name: "day profile (lots)", nameLocation: "middle", nameGap: 18, nameTextStyle: { color: "#8a96a3" } },
      ],
      yAxis: [
        Object.assign({ gridIndex: 0, name: "price" }, priceAxis),
        Object.assign({ gridIndex: 1, position: "right" }, priceAxis),
      ],
      dataZoom: [Object.assign({ xAxisIndex: [0] }, zoomInside)],
      series: [
        { name: "ladder", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderCell(halfOf),
          data: ladderRows(body), encode: { x: 0, y: 1, tooltip: [2, 3] }, clip: true,
          markArea: areas.length ? { silent: true, itemStyle: { color: C.phase },
                                     label: { show: true, position: "insideTop", color: "#c4b5fd", fontSize: 10,
                                              width: COL_PX - 10, overflow: "break" },
                                     data: areas } : undefined },
        { name: "auction", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderAuction(halfOf),
          data: auctions, encode: { x: 0, y: 1 }, clip: true },
        { name: "stacked imbalances", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderStack(halfOf),
          data: stackRows(body), encode: { x: 0, y: [1, 2] }, clip: true, silent: true },
        { name: "ohlc", type: "custom", xAxisIndex: 0, yAxisIndex: 0, renderItem: renderOhlc, silent: true, clip: true,
          data: candles.map((c, i) => [i, c.ohlc.o, c.ohlc.c, c.ohlc.l, c.ohlc.h]), encode: { x: 0, y: [1, 2, 3, 4] } },
        { name: "profile", type: "custom", xAxisIndex: 1, yAxisIndex: 1, clip: true,
          renderItem: prof ? renderProfile(halfOf, prof) : () => null,
          data: dayLevels.map((lv) => [lv.p, lv.bv, lv.av]), encode: { x: [1, 2], y: 0 },
          markArea: prof ? { silent: true, itemStyle: { color: C.va },
                             data: [[{ yAxis: prof.val - halfOf(prof.val) }, { yAxis: prof.vah + halfOf(prof.vah) }]] } : undefined,
          markLine: prof ? { silent: true, symbol: "none", label: { position: "insideEndTop", formatter: "{b}", color: "#e6e9ed", fontSize: 11 },
                             data: profMarks } : undefined },
      ],
    }, { notMerge: true });
    // The CVD panel below, outside the scroll box: its own scales (CVD left, per-bar delta right),
    // the same columns as the ladder, zoom linked both ways.
    cvdChart.setOption({
      animation: false,
      tooltip: { trigger: "axis", confine: true, formatter: (ps) => ps.map((p) => p.name + " · " + p.seriesName + " " + p.value.toLocaleString("en-US")).join("<br>") },
      grid: { left: 64, width: gridW, top: 22, bottom: 40 },
      xAxis: { type: "category", data: x, axisLabel: axisLabel },
      yAxis: [
        { type: "value", name: "CVD", scale: true, splitLine: { lineStyle: { color: C.grid } },
          axisLabel: Object.assign({ formatter: fmtLots }, axisLabel), nameTextStyle: { color: C.cvd } },
        { type: "value", name: "Δ per bar", position: "right", splitLine: { show: false },
          axisLabel: Object.assign({ formatter: fmtLots }, axisLabel), nameTextStyle: { color: "#8a96a3" } },
      ],
      dataZoom: [Object.assign({}, zoomInside), { type: "slider", start: startPct, end: 100, bottom: 2, height: 14 }],
      series: [
        { name: "delta", type: "bar", yAxisIndex: 1, data: deltas, barMaxWidth: 18 },
        { name: "CVD", type: "line", yAxisIndex: 0, data: cvd, showSymbol: false, lineStyle: { color: C.cvd, width: 1.5 } },
      ],
    }, { notMerge: true });
    el.dataset.cells = String(drawn.cells);
    // Default vertical position: the day's POC (its largest level) in view, and the newest close
    // with it when both fit in the box.
    if (prof) {
      const yPoc = chart.convertToPixel({ yAxisIndex: 0 }, prof.poc);
      const yLast = chart.convertToPixel({ yAxisIndex: 0 }, candles[candles.length - 1].ohlc.c);
      const box = scroller.clientHeight;
      const mid = Math.abs(yPoc - yLast) < box - 4 * ROW_PX ? (yPoc + yLast) / 2 : yPoc;
      scroller.scrollTop = Math.max(0, mid - box / 2);
    }
    return { cvd: cum, first: Math.max(0, candles.length - visible) };
  }

  function tooltip(p) {
    const body = current && current.body;
    if (!body) return "";
    const n = (v) => Number(v).toLocaleString("en-US");
    if (p.seriesName === "ladder") {
      const [i, price, bv, av, ib, is, poc] = p.value;
      const c = body.candles[i];
      return "<b>" + hhmm(c.t0) + " WIB · " + price + "</b><br>bid (sell) " + n(av) + " × ask (buy) " + n(bv) +
        (ib ? "<br><b style='color:" + C.imbBuy + "'>buy imbalance</b>" : "") +
        (is ? "<br><b style='color:" + C.imbSell + "'>sell imbalance</b>" : "") + (poc ? "<br>bar POC" : "");
    }
    if (p.seriesName === "auction") {
      const c = body.candles[p.value[0]];
      return "<b>" + hhmm(c.t0) + " WIB · " + p.value[1] + "</b><br>" + (PHASE_LABEL[(body.phases || [])[p.value[0]]] || "auction") +
        ": " + n(p.value[2]) + " lots, no aggressor side";
    }
    if (p.seriesName === "profile") {
      return "<b>" + p.value[0] + "</b> day: sell " + n(p.value[2]) + " · buy " + n(p.value[1]);
    }
    return "";
  }

  /* The live date's ladder comes from the live engine (same shape, `"source": "live"`, live.js). */
  function urlOf(ticker, date, bar) {
    const live = window.Live && window.Live.isLive(date);
    return (live ? "/live/footprint-hist?kode=" + encodeURIComponent(ticker)
      : "/footprint-raw-hist?kode=" + encodeURIComponent(ticker) + "&date=" + encodeURIComponent(date)) + "&bar=" + bar;
  }

  /* A live candle of the open ticker: refetch its bars (the profile and imbalances are the
   * server's), at most one request in flight and one every 500 ms; the view is redrawn in place. */
  let refreshing = false, again = false, lastRefresh = 0;
  function liveCandle(c) {
    if (!current || current.ticker !== c.t || !current.body || current.body.source !== "live") return;
    if (refreshing) { again = true; return; }
    refreshing = true;
    const cur = current;
    const wait = Math.max(0, lastRefresh + 500 - Date.now());
    setTimeout(async () => {
      try {
        const res = await fetch(urlOf(cur.ticker, cur.date, cur.bar), { cache: "no-store" });
        const body = await res.json();
        if (res.ok && body.candles && current === cur) {
          const top = $("footprint-scroll").scrollTop;
          cur.body = body;
          draw(body);
          $("footprint-scroll").scrollTop = top;
          window.__footprint = Object.assign({}, window.__footprint, { body: body, drawn: Object.assign({}, drawn),
                                                                       liveUpdates: ((window.__footprint || {}).liveUpdates || 0) + 1 });
        }
      } catch (err) { /* the next candle retries */ }
      lastRefresh = Date.now();
      refreshing = false;
      if (again) { again = false; liveCandle(c); }
    }, wait);
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
      const res = await fetch(urlOf(ticker, date, bar));
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
    window.addEventListener("resize", () => {
      if (!chart) return;
      if (current && current.body) { draw(current.body); } else { chart.resize(); cvdChart.resize(); }
      refreshDrawn();
    });
  });

  window.Footprint = { open: open, fmtLots: fmtLots, liveCandle: liveCandle };
})();
