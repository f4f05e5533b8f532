// The sciot fleet dashboard: one WebSocket of ticks (docs/dashboard.md), rendered in place.
// Plain browser JavaScript, no build step; charts by the vendored uPlot.
"use strict";

// Device table columns. src "s": the /api/stats entry of the device; "d": what the dashboard
// derived from two ticks. optional: shown only once some device has the key.
const COLUMNS = [
  { key: "device_id", label: "device", src: "s", text: true },
  { key: "status", label: "status", src: "d", text: true },
  { key: "model", label: "model", src: "s", text: true },
  { key: "kind", label: "kind", src: "s", text: true },
  { key: "transport", label: "transport", src: "s", text: true, optional: true },
  { key: "next_cut", label: "cut", src: "s" },
  { key: "last_cut", label: "last cut", src: "s" },
  { key: "p50_ms", label: "p50 ms", src: "s", optional: true },
  { key: "p95_ms", label: "p95 ms", src: "s", optional: true },
  { key: "mean_end_to_end_ms", label: "mean ms", src: "s" },
  { key: "recent_end_to_end_ms", label: "interval ms", src: "d" },
  { key: "mean_device_ms", label: "device ms", src: "s" },
  { key: "mean_edge_ms", label: "edge ms", src: "s" },
  { key: "bytes_per_inference", label: "bytes/inference", src: "d" },
  { key: "inferences_per_s", label: "inferences/s", src: "d" },
  { key: "inferences", label: "inferences", src: "s" },
  { key: "split_inferences", label: "split", src: "s" },
  { key: "edge_only", label: "edge-only", src: "s" },
  { key: "device_only", label: "device-only", src: "s" },
  { key: "offline", label: "local fallbacks", src: "s" },
  { key: "offline_backlog", label: "offline backlog", src: "s", optional: true },
  { key: "errors", label: "errors", src: "s" },
  { key: "planner_updates", label: "planner updates", src: "s" },
  { key: "rtt_ms", label: "RTT ms", src: "d" },
  { key: "bandwidth_mbit_s", label: "Mbit/s", src: "d" },
  { key: "seen_ago_s", label: "last seen s ago", src: "d" },
];
const CHARTS = [
  { field: 0, title: "End-to-end latency per device (ms, mean over each interval)" },
  { field: 1, title: "Cut per device (ops run on the device)" },
  { field: 2, title: "Inferences per second per device" },
  { field: 3, title: "Planner's RTT estimate per device (ms)" },
  { field: 4, title: "Planner's bandwidth estimate per device (Mbit/s, log scale)", log: true },
];
const PALETTE = ["#1f6feb", "#f0883e", "#1a7f37", "#a371f7", "#d29922", "#cf222e", "#0a7e8c", "#8c5a00"];
const MAX_POINTS = 240;

const state = {
  selected: null, devices: [], shownOptional: new Set(), rows: new Map(),
  xs: [], series: new Map(), charts: [], chartKey: "", lastTickAt: 0,
};

function fmt(value, text) {
  if (value === null || value === undefined) return "–";
  if (text) return String(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(2);
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ device table

function visibleColumns(entries) {
  for (const c of COLUMNS) {
    if (c.optional && entries.some((e) => e[c.key] !== undefined)) state.shownOptional.add(c.key);
  }
  return COLUMNS.filter((c) => !c.optional || state.shownOptional.has(c.key));
}

function renderHead(columns) {
  const head = document.getElementById("device-head");
  const key = columns.map((c) => c.key).join(",");
  if (head.dataset.columns === key) return false;
  head.dataset.columns = key;
  head.replaceChildren(...columns.map((c) => el("th", { class: c.text ? "text" : "" }, c.label)));
  for (const row of state.rows.values()) row.remove();
  state.rows.clear();
  return true;
}

function rowFor(deviceId, columns) {
  let row = state.rows.get(deviceId);
  if (row) return row;
  row = el("tr", { "data-device": deviceId });
  for (const c of columns) row.appendChild(el("td", { "data-key": c.key, class: c.text ? "text" : "" }));
  row.addEventListener("click", () => select(deviceId));
  state.rows.set(deviceId, row);
  return row;
}

function renderDevices(tick) {
  const entries = tick.stats.devices.slice().sort((a, b) => a.device_id.localeCompare(b.device_id));
  const columns = visibleColumns(entries);
  renderHead(columns);
  const body = document.getElementById("device-rows");
  const seen = new Set();
  entries.forEach((entry, i) => {
    const derived = tick.derived[entry.device_id] || {};
    const row = rowFor(entry.device_id, columns);
    seen.add(entry.device_id);
    if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
    row.classList.toggle("gone", derived.status === "gone");
    row.classList.toggle("selected", entry.device_id === state.selected);
    row.dataset.status = derived.status || "";
    columns.forEach((c, j) => {
      const source = c.src === "s" ? entry : derived;
      let text = fmt(source[c.key], c.text);
      // Until transfers of different sizes separate them, bandwidth is a guess, RTT the fit.
      if (c.key === "bandwidth_mbit_s" && derived.link_identified === false && text !== "–") text += "?";
      setText(row.children[j], text);
    });
  });
  for (const [id, row] of state.rows) {
    if (!seen.has(id)) { row.remove(); state.rows.delete(id); }
  }
  state.devices = entries.map((e) => e.device_id);
  if (state.selected === null && entries.length) select(entries[0].device_id);
}

// ------------------------------------------------------------------ totals and header

function renderTotals(tick) {
  const s = tick.stats;
  const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
  const t = s.telemetry;
  const values = {
    devices: String(tick.fleet.devices),
    active_gone: `${tick.fleet.active} / ${tick.fleet.gone}`,
    inferences_per_s: fmt(tick.fleet.inferences_per_s),
    inferences: fmt(s.inferences),
    split_inferences: fmt(s.split_inferences),
    frames: fmt(s.frames),
    rejected: String(rejected),
    telemetry: t ? `${t.written_rows} / ${t.dropped_rows}` : "off",
  };
  for (const [key, text] of Object.entries(values)) {
    setText(document.querySelector(`[data-total="${key}"]`), text);
  }
  setText(document.getElementById("policy"), s.policy);
  setText(document.getElementById("models"), s.models.map((m) => `${m.name} (${m.num_ops} ops)`).join(", "));
  setText(document.getElementById("uptime"), `${Math.round(s.uptime_s)} s`);
  setText(document.getElementById("updated"), new Date(tick.at_s * 1000).toLocaleTimeString());
}

function renderAlerts(alerts) {
  const section = document.getElementById("alerts");
  section.hidden = alerts === null || alerts === undefined;
  if (section.hidden) return;
  const rows = alerts.slice(-20).reverse().map((a) => {
    const tr = el("tr");
    tr.append(
      el("td", { class: "text" }, new Date(a.raised_s * 1000).toLocaleTimeString()),
      el("td", { class: "text" }, a.sensor_id), el("td", { class: "text" }, a.severity),
      el("td", { class: "text" }, a.kind), el("td", { class: "text", title: a.reason }, a.reason));
    return tr;
  });
  document.getElementById("alert-rows").replaceChildren(...rows);
}

// ------------------------------------------------------------------ time charts

function addPoint(point) {
  state.xs.push(point.at_s);
  const n = state.xs.length;
  for (const [id, values] of Object.entries(point.devices)) {
    let s = state.series.get(id);
    if (!s) {
      s = CHARTS.map(() => new Array(n - 1).fill(null));
      state.series.set(id, s);
    }
    CHARTS.forEach((c, k) => s[k].push(values[c.field]));
  }
  for (const s of state.series.values()) {
    for (const arr of s) if (arr.length < n) arr.push(null);
  }
  if (n > MAX_POINTS) {
    state.xs.shift();
    for (const s of state.series.values()) for (const arr of s) arr.shift();
  }
}

function chartSeries(ids) {
  const many = ids.length > PALETTE.length;
  return ids.map((id, i) => {
    const chosen = id === state.selected;
    return {
      label: id, spanGaps: false, points: { show: false },
      stroke: many ? (chosen ? "#1f6feb" : "rgba(120,130,150,0.35)") : PALETTE[i],
      width: chosen ? 2.5 : 1,
    };
  });
}

function renderCharts() {
  const ids = [...state.series.keys()].sort();
  const key = ids.join(",") + "|" + state.selected;
  const box = document.getElementById("charts");
  if (key !== state.chartKey) {
    state.chartKey = key;
    state.charts.forEach((c) => c.destroy());
    box.replaceChildren();
    state.charts = CHARTS.map((c, k) => {
      const holder = el("div", { class: "chart", "data-chart": String(k) });
      holder.appendChild(el("h3", {}, c.title));
      box.appendChild(holder);
      const width = Math.max(300, holder.clientWidth - 14);
      const opts = {
        width, height: 180, legend: { show: ids.length <= PALETTE.length },
        scales: { x: { time: true }, y: c.log ? { distr: 3 } : {} },
        series: [{}, ...chartSeries(ids)],
        axes: [{}, { size: c.log ? 76 : 60 }],
      };
      return new uPlot(opts, chartData(ids, k), holder);
    });
    return;
  }
  state.charts.forEach((chart, k) => chart.setData(chartData(ids, k)));
}

function chartData(ids, k) {
  return [state.xs.slice(), ...ids.map((id) => state.series.get(id)[k].slice())];
}

// ------------------------------------------------------------------ planner view

function select(deviceId) {
  state.selected = deviceId;
  for (const [id, row] of state.rows) row.classList.toggle("selected", id === deviceId);
  loadDetail();
}

async function loadDetail() {
  const id = state.selected;
  if (id === null) return;
  try {
    const reply = await fetch(`/dashboard/api/devices/${encodeURIComponent(id)}`);
    if (reply.ok && id === state.selected) renderDetail(await reply.json());
  } catch (err) {
    // The edge is away; the connection badge says so, the next poll retries.
  }
}

function bar(value, max, cls) {
  const span = el("span", { class: "bar" + (cls ? " " + cls : "") });
  span.style.width = value === null || !max ? "0px" : `${Math.max(1, (150 * value) / max)}px`;
  return span;
}

function renderDetail(view) {
  setText(document.getElementById("detail-device"), view.device_id);
  const link = view.link;
  const linkText = link
    ? `link estimate: RTT ${fmt(link.rtt_ms)} ms, ${fmt(link.bandwidth_mbit_s)} Mbit/s` +
      (link.identified ? "" : " (bandwidth not yet separated from RTT)")
    : "the planner has no measurements of this device yet";
  setText(document.getElementById("detail-summary"),
    `${view.model}: policy ${view.policy}, objective ${view.objective || "–"}, ` +
    `next cut ${view.next_cut} of 0..${view.num_ops}` + (view.why ? ` (${view.why})` : "") +
    `; ${linkText}`);
  const known = view.cuts.map((c) => c.latency_ms).filter((v) => v !== null);
  const maxLatency = known.length ? Math.max(...known) : 0;
  const cutRows = view.cuts.map((c) => {
    const tr = el("tr", { "data-cut": String(c.cut), class: c.cut === view.next_cut ? "chosen" : "" });
    const cell = el("td", { class: "barcell" });
    cell.appendChild(bar(c.latency_ms, maxLatency));
    tr.append(el("td", {}, String(c.cut)), el("td", {}, fmt(c.device_ms)),
      el("td", {}, fmt(c.network_ms)), el("td", {}, fmt(c.edge_ms)),
      el("td", {}, c.known ? fmt(c.latency_ms) : "unknown"), cell, el("td", {}, String(c.request_bytes)));
    return tr;
  });
  document.querySelector("#cut-table tbody").replaceChildren(...cutRows);
  const all = [...view.device_op_ms, ...view.edge_op_ms, ...view.edge_profile_ms].filter((v) => v !== null);
  const maxOp = all.length ? Math.max(...all) : 0;
  const opRows = view.ops.map((op, i) => {
    const tr = el("tr");
    const cell = el("td", { class: "barcell" });
    cell.append(bar(view.device_op_ms[i] ?? null, maxOp), el("br"), bar(view.edge_op_ms[i] ?? null, maxOp, "edge"));
    tr.append(el("td", {}, String(op.index)), el("td", { class: "text", title: op.name }, op.type),
      el("td", {}, fmt(view.device_op_ms[i] ?? null)), el("td", {}, fmt(view.edge_op_ms[i] ?? null)),
      el("td", {}, fmt(view.edge_profile_ms[i])), cell);
    return tr;
  });
  document.querySelector("#op-table tbody").replaceChildren(...opRows);
}

// ------------------------------------------------------------------ the live channel

function setConnection(text) {
  const badge = document.getElementById("connection");
  badge.dataset.state = text;
  setText(badge, text);
}

function onTick(tick) {
  const started = performance.now();
  state.lastTickAt = Date.now();
  window.sciotLastTick = tick;
  setConnection("live");
  renderTotals(tick);
  renderDevices(tick);
  renderAlerts(tick.alerts);
  const point = { at_s: tick.at_s, devices: {} };
  for (const entry of tick.stats.devices) {
    const d = tick.derived[entry.device_id] || {};
    point.devices[entry.device_id] = [d.recent_end_to_end_ms, entry.next_cut, d.inferences_per_s, d.rtt_ms, d.bandwidth_mbit_s];
  }
  addPoint(point);
  renderCharts();
  // How long a tick takes to render, for the benchmark (bench/bench_dashboard.py).
  const timings = (window.sciotRenderMs = window.sciotRenderMs || []);
  timings.push(performance.now() - started);
  if (timings.length > 1000) timings.shift();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/dashboard/live`);
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "history") {
      state.xs = []; state.series = new Map(); state.chartKey = "";
      message.points.forEach(addPoint);
    } else if (message.type === "tick") {
      onTick(message);
    }
  };
  socket.onclose = () => {
    setConnection("reconnecting");
    setTimeout(connect, 1000);
  };
}

setInterval(() => {
  if (state.lastTickAt && Date.now() - state.lastTickAt > 3000) setConnection("stale");
}, 1000);
setInterval(loadDetail, 1000);
connect();
