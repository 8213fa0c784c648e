#include "cli/dashboard_page.h"

namespace ferry::cli {

namespace {

// The markers the server replaces: the first graph and the refresh interval.
constexpr const char* kGraphMarker = "/*FERRY_INITIAL_GRAPH*/null";
constexpr const char* kIntervalMarker = "/*FERRY_INTERVAL_MS*/2000";

// The page. Every element a test or a script may look for carries a stable data-* attribute:
// data-service="ns/workload" on graph nodes, data-source/data-target/data-requests on edges,
// data-split/data-backend/data-share/data-weight on split rows.
constexpr const char* kPage = R"FERRYPAGE(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ferry dashboard</title>
<style>
:root { --bg:#f4f6fa; --panel:#fff; --ink:#1c2433; --muted:#6b7588; --line:#dfe4ec; --ok:#1f9d55;
        --warn:#d98e04; --bad:#d64545; --idle:#9aa4b5; --accent:#2f6fde; --split:#7b4fd6; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       background:var(--bg); color:var(--ink); }
header { display:flex; align-items:center; gap:18px; padding:12px 24px; background:#18202e; color:#e9edf5; }
header h1 { font-size:18px; margin:0; font-weight:600; letter-spacing:.2px; }
header h1 span { color:#8fb4ff; font-weight:700; }
header .grow { flex:1; }
.pill { display:inline-flex; align-items:center; gap:6px; padding:3px 10px; border-radius:999px;
        background:#263247; font-size:12px; color:#c9d3e6; }
.dot { width:8px; height:8px; border-radius:50%; background:var(--ok); display:inline-block; }
.dot.bad { background:var(--bad); } .dot.stale { background:var(--warn); }
main { padding:18px 24px 32px; max-width:1400px; margin:0 auto; }
.cards { display:grid; grid-template-columns:repeat(5, 1fr); gap:12px; margin-bottom:16px; }
.card { background:var(--panel); border:1px solid var(--line); border-radius:10px; padding:10px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.5px; }
.card .value { font-size:24px; font-weight:600; margin-top:2px; font-variant-numeric:tabular-nums; }
.panel { background:var(--panel); border:1px solid var(--line); border-radius:10px; margin-bottom:16px; }
.panel h2 .legend { float:right; text-transform:none; letter-spacing:0; font-weight:400; }
.legend i { display:inline-block; width:18px; height:0; border-top:3px solid; vertical-align:middle; margin:0 4px 0 12px; }
.split .share { color:var(--split); }
.panel h2 { font-size:13px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted);
            margin:0; padding:10px 14px; border-bottom:1px solid var(--line); font-weight:600; }
#graph-wrap { padding:8px; overflow-x:auto; }
svg text { font-family:inherit; }
.node rect.box { fill:#fff; stroke:#c9d1de; stroke-width:1.2; }
.node.external rect.box { stroke-dasharray:4 3; fill:#fafbfd; }
.node.split-root rect.box { stroke:var(--split); stroke-dasharray:5 3; fill:#faf7ff; }
.node .name { font-size:14px; font-weight:600; fill:var(--ink); }
.node .sub { font-size:11px; fill:var(--muted); }
.node .stat { font-size:11.5px; fill:#38445a; font-variant-numeric:tabular-nums; }
.lane rect { fill:#f7f9fc; stroke:#e3e8f0; }
.lane text { font-size:12px; font-weight:600; fill:#7a859a; letter-spacing:.4px; }
.edge path { fill:none; stroke-linecap:round; }
.edge .lbl rect { fill:#fff; stroke:#d5dbe6; }
.edge .lbl text { font-size:11.5px; fill:#283246; font-variant-numeric:tabular-nums; }
.edge .lbl text.split { fill:var(--split); font-weight:600; }
table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { padding:7px 12px; text-align:right; border-bottom:1px solid #eef1f6; white-space:nowrap; }
th { color:var(--muted); font-weight:600; font-size:12px; background:#fafbfd; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align:left; }
tr:last-child td { border-bottom:none; }
.rate-ok { color:var(--ok); font-weight:600; } .rate-warn { color:var(--warn); font-weight:600; }
.rate-bad { color:var(--bad); font-weight:600; }
.tag { font-size:11px; padding:1px 6px; border-radius:4px; background:#eef2fb; color:#3a4a6b; margin-left:6px; }
.splits { display:grid; grid-template-columns:repeat(auto-fill, minmax(420px, 1fr)); gap:12px; padding:12px 14px; }
.split { border:1px solid var(--line); border-radius:8px; padding:10px 12px; }
.split h3 { margin:0 0 8px; font-size:14px; } .split h3 small { color:var(--muted); font-weight:400; }
.bar-row { display:grid; grid-template-columns:90px 1fr 170px; white-space:nowrap; gap:10px; align-items:center; margin:6px 0; }
.bar { position:relative; height:14px; background:#eef1f6; border-radius:7px; overflow:hidden; }
.bar .fill { position:absolute; left:0; top:0; bottom:0; background:var(--split); border-radius:7px; }
.bar .weight { position:absolute; top:-2px; bottom:-2px; width:2px; background:#1c2433; }
.muted { color:var(--muted); }
.errors { color:var(--bad); padding:8px 14px; }
.empty { padding:28px; text-align:center; color:var(--muted); }
</style>
</head>
<body>
<header>
  <h1><span>Ferry</span> service mesh &middot; service graph</h1>
  <div class="grow"></div>
  <div id="nodes-status"></div>
  <div class="pill" id="live"><span class="dot" id="live-dot"></span><span id="live-text">loading</span></div>
</header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Services</div><div class="value" id="card-services">&ndash;</div></div>
    <div class="card"><div class="label">HTTP requests</div><div class="value" id="card-requests">&ndash;</div></div>
    <div class="card"><div class="label">Requests / s</div><div class="value" id="card-rps">&ndash;</div></div>
    <div class="card"><div class="label">Success rate</div><div class="value" id="card-success">&ndash;</div></div>
    <div class="card"><div class="label">TCP connections</div><div class="value" id="card-connections">&ndash;</div></div>
  </div>
  <div class="panel"><h2>Service graph <span class="legend">success
    <i style="border-color:var(--ok)"></i>&ge; 99%<i style="border-color:var(--warn)"></i>&ge; 95%<i
    style="border-color:var(--bad)"></i>below<i style="border-color:var(--accent);border-top-style:dashed"></i>TCP only
    &middot; width: traffic</span></h2><div id="graph-wrap"></div><div class="errors" id="errors"></div></div>
  <div class="panel"><h2>Traffic splits</h2><div id="splits"></div></div>
  <div class="panel"><h2>Traffic between services</h2><div id="table"></div></div>
</main>
<script>
"use strict";
const INTERVAL_MS = /*FERRY_INTERVAL_MS*/2000;
const NS = "http://www.w3.org/2000/svg";
const NODE_W = 200, NODE_H = 70, COL_W = 470, ROW_H = 110, LANE_PAD = 34, LEFT = 24;

function el(tag, attrs, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
const fmtInt = n => Math.round(n).toLocaleString("en-US");
const fmtRate = r => r === null || r === undefined ? "\u2013" : (r >= 100 ? r.toFixed(0) : r.toFixed(1));
// 0.9 → "90%", 0.902 → "90.2%", 0.99996 → "100%": whole percentages without a trailing ".0".
const fmtPct = p => p === null || p === undefined ? "\u2013" : (p * 100).toFixed(1).replace(/\.0$/, "") + "%";
const fmtBytes = b => b < 1024 ? b + " B" : b < 1048576 ? (b / 1024).toFixed(1) + " KiB" : (b / 1048576).toFixed(1) + " MiB";
function health(rate) {
  if (rate === null || rate === undefined) return "var(--idle)";
  return rate >= 0.99 ? "var(--ok)" : rate >= 0.95 ? "var(--warn)" : "var(--bad)";
}
function rateClass(rate) {
  if (rate === null || rate === undefined) return "muted";
  return rate >= 0.99 ? "rate-ok" : rate >= 0.95 ? "rate-warn" : "rate-bad";
}

// Columns by longest path from the callers (cycles are cut), rows within a namespace lane.
function layout(graph) {
  const depth = {};
  graph.nodes.forEach(n => depth[n.id] = 0);
  for (let i = 0; i < graph.nodes.length; i++) {
    let changed = false;
    for (const e of graph.edges) {
      if (e.source === e.target || !(e.source in depth) || !(e.target in depth)) continue;
      if (depth[e.target] < depth[e.source] + 1) { depth[e.target] = depth[e.source] + 1; changed = true; }
    }
    if (!changed) break;
  }
  const lanes = {};
  for (const n of graph.nodes) (lanes[n.namespace] = lanes[n.namespace] || []).push(n);
  const laneNames = Object.keys(lanes).sort((a, b) => (a === "") - (b === "") || a.localeCompare(b));
  const pos = {}, laneBoxes = [];
  let y = 12, maxDepth = 0;
  for (const lane of laneNames) {
    const cols = {};
    for (const n of lanes[lane].sort((a, b) => a.name.localeCompare(b.name))) {
      const d = Math.min(depth[n.id], graph.nodes.length);
      (cols[d] = cols[d] || []).push(n);
      maxDepth = Math.max(maxDepth, d);
    }
    const rows = Math.max(...Object.values(cols).map(c => c.length));
    const height = LANE_PAD + rows * ROW_H;
    for (const [d, list] of Object.entries(cols)) {
      const offset = (rows - list.length) * ROW_H / 2;  // centre short columns
      list.forEach((n, i) => pos[n.id] = { x: LEFT + 16 + d * COL_W, y: y + LANE_PAD + offset + i * ROW_H + 6 });
    }
    laneBoxes.push({ name: lane, y: y, height: height });
    y += height + 12;
  }
  return { pos, laneBoxes, width: LEFT * 2 + 32 + maxDepth * COL_W + NODE_W, height: y };
}

function edgeLabelLines(e, nodes) {
  const lines = [];
  const target = nodes.find(n => n.id === e.target);
  if (e.protocol === "http") {
    lines.push(fmtInt(e.requests) + " req \u00b7 " + fmtRate(e.rps) + " rps \u00b7 " + fmtPct(e.successRate) + " ok");
  } else {
    const what = target && target.splitRoot ? "split per request" : "tcp";
    lines.push(fmtInt(e.connections) + " conn \u00b7 " + fmtRate(e.cps) + " /s \u00b7 " + what);
  }
  if (e.split) lines.push("split " + e.split.root + ": " + fmtPct(e.split.share) + " (weight " +
                          fmtPct(e.split.weightShare) + ")");
  return lines;
}

function drawEdge(svg, labels, e, pos, maxCount, nodes) {
  const a = pos[e.source], b = pos[e.target];
  if (!a || !b || e.source === e.target) return;
  const count = e.protocol === "http" ? e.requests : e.connections;
  const width = 1.5 + 5 * Math.log1p(count) / Math.log1p(Math.max(maxCount, 1));
  const x1 = a.x + NODE_W, y1 = a.y + NODE_H / 2, x2 = b.x - 8, y2 = b.y + NODE_H / 2;
  const back = x2 <= x1;
  const dx = back ? 120 : Math.max(60, (x2 - x1) / 2);
  const d = back ? `M${x1},${y1} C${x1 + dx},${y1 - 90} ${x2 - dx},${y2 - 90} ${x2},${y2}`
                 : `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
  const colour = e.protocol === "http" ? health(e.successRate) : "var(--accent)";
  const g = el("svg:g", { class: "edge", "data-source": e.source, "data-target": e.target,
    "data-protocol": e.protocol, "data-requests": Math.round(e.requests), "data-connections": Math.round(e.connections),
    "data-success-rate": e.successRate === null ? null : e.successRate.toFixed(4),
    "data-split-share": e.split && e.split.share !== null ? e.split.share.toFixed(4) : null,
    "data-split-weight": e.split ? e.split.weight : null });
  g.appendChild(el("svg:path", { d, stroke: colour, "stroke-width": width.toFixed(1), "stroke-opacity": 0.55,
                                 "marker-end": "url(#arrow)", "stroke-dasharray": e.protocol === "tcp" ? "6 4" : null }));
  const lines = edgeLabelLines(e, nodes);
  const lw = Math.max(...lines.map(l => l.length)) * 6.3 + 16, lh = lines.length * 16 + 8;
  // The middle of the curve: edges fanning out of one source have parted by then.
  const t = 0.5, u = 1 - t;
  const mx = u * u * u * x1 + 3 * u * u * t * (x1 + dx) + 3 * u * t * t * (x2 - dx) + t * t * t * x2;
  const my = back ? (y1 + y2) / 2 - 68 : u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
  const lbl = el("svg:g", { class: "lbl", "data-source": e.source, "data-target": e.target,
                            transform: `translate(${(mx - lw / 2).toFixed(1)},${(my - lh / 2).toFixed(1)})` });
  lbl.appendChild(el("svg:rect", { width: lw.toFixed(1), height: lh, rx: 6 }));
  lines.forEach((l, i) => lbl.appendChild(el("svg:text", { x: 8, y: 18 + i * 16, class: i === 1 ? "split" : null }, l)));
  labels.appendChild(lbl);
  svg.appendChild(g);
}

function drawNode(svg, n, p) {
  const kind = n.splitRoot ? " split-root" : n.inMesh ? "" : " external";
  const g = el("svg:g", { class: "node" + kind, "data-service": n.id, "data-split-root": n.splitRoot ? 1 : null,
    "data-requests-in": Math.round(n.requestsIn), transform: `translate(${p.x},${p.y})` });
  g.appendChild(el("svg:rect", { class: "box", width: NODE_W, height: NODE_H, rx: 9 }));
  g.appendChild(el("svg:rect", { width: 6, height: NODE_H, rx: 3, fill: health(n.successRateIn) }));
  g.appendChild(el("svg:text", { class: "name", x: 16, y: 22 }, n.name));
  const where = [];
  if (n.services && n.services.length && !(n.services.length === 1 && n.services[0] === n.name))
    where.push("svc " + n.services.join(", "));
  if (n.hosts && n.hosts.length) where.push(n.hosts.join(", "));
  if (n.splitRoot) where.push("TrafficSplit " + n.splitRoot.name);
  else if (!n.inMesh) where.push(n.id === "unknown" ? "no mesh identity" : "not in the mesh");
  if (n.pods > 1) where.push(n.pods + " pods");
  g.appendChild(el("svg:text", { class: "sub", x: 16, y: 39 }, where.join(" \u00b7 ") || "\u00a0"));
  const stat = n.requestsIn > 0 ? "in " + fmtInt(n.requestsIn) + " req \u00b7 " + fmtRate(n.rpsIn) + " rps \u00b7 " +
                                      fmtPct(n.successRateIn)
             : n.requestsOut > 0 ? "out " + fmtInt(n.requestsOut) + " req"
             : n.splitRoot ? "\u2192 " + n.splitRoot.backends.join(", ") : "no requests yet";
  g.appendChild(el("svg:text", { class: "stat", x: 16, y: 58 }, stat));
  svg.appendChild(g);
}

function drawGraph(graph) {
  const wrap = document.getElementById("graph-wrap");
  wrap.textContent = "";
  if (!graph.nodes.length) {
    wrap.appendChild(el("div", { class: "empty" }, "No services yet: nothing is enrolled or no agent answered."));
    return;
  }
  const { pos, laneBoxes, width, height } = layout(graph);
  const svg = el("svg:svg", { id: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                              "aria-label": "service graph" });
  const defs = el("svg:defs");
  const marker = el("svg:marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7,
                                    markerHeight: 7, orient: "auto-start-reverse", markerUnits: "userSpaceOnUse" });
  marker.appendChild(el("svg:path", { d: "M0,0 L10,5 L0,10 z", fill: "#8793a8" }));
  marker.setAttribute("markerWidth", 12); marker.setAttribute("markerHeight", 12);
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const lane of laneBoxes) {
    const g = el("svg:g", { class: "lane", "data-namespace": lane.name });
    g.appendChild(el("svg:rect", { x: LEFT - 12, y: lane.y, width: width - 2 * LEFT + 24, height: lane.height, rx: 10 }));
    g.appendChild(el("svg:text", { x: LEFT, y: lane.y + 20 }, lane.name ? "namespace " + lane.name : "outside the mesh"));
    svg.appendChild(g);
  }
  const maxCount = Math.max(1, ...graph.edges.map(e => e.protocol === "http" ? e.requests : e.connections));
  const labels = el("svg:g", { class: "edge edge-labels" });  // drawn last: no node or line hides them
  for (const e of graph.edges) drawEdge(svg, labels, e, pos, maxCount, graph.nodes);
  for (const n of graph.nodes) drawNode(svg, n, pos[n.id]);
  svg.appendChild(labels);
  wrap.appendChild(svg);
}

function drawSplits(graph) {
  const box = document.getElementById("splits");
  box.textContent = "";
  if (!graph.splits.length) { box.appendChild(el("div", { class: "empty" }, "No TrafficSplit in the mesh.")); return; }
  const grid = el("div", { class: "splits" });
  for (const s of graph.splits) {
    const card = el("div", { class: "split", "data-split": s.namespace + "/" + s.name });
    const h = el("h3", {}, s.root + "." + s.namespace + " ");
    h.appendChild(el("small", {}, "TrafficSplit " + s.name + " \u00b7 " + fmtInt(s.total) + " " + s.unit));
    card.appendChild(h);
    for (const b of s.backends) {
      const row = el("div", { class: "bar-row", "data-backend": b.service, "data-weight": b.weight,
        "data-share": b.share === null ? null : b.share.toFixed(4), "data-count": Math.round(b.count) });
      row.appendChild(el("div", {}, b.service));
      const bar = el("div", { class: "bar", title: "bar: share received; mark: weight" });
      bar.appendChild(el("div", { class: "fill", style: `width:${((b.share || 0) * 100).toFixed(1)}%` }));
      bar.appendChild(el("div", { class: "weight", style: `left:calc(${(b.weightShare * 100).toFixed(1)}% - 1px)` }));
      row.appendChild(bar);
      const text = el("div", { class: "muted" });
      text.appendChild(el("b", { class: "share" }, fmtPct(b.share)));
      text.appendChild(document.createTextNode(" \u00b7 weight " + fmtPct(b.weightShare)));
      row.appendChild(text);
      card.appendChild(row);
    }
    grid.appendChild(card);
  }
  box.appendChild(grid);
}

function drawTable(graph) {
  const box = document.getElementById("table");
  box.textContent = "";
  if (!graph.edges.length) { box.appendChild(el("div", { class: "empty" }, "No traffic recorded yet.")); return; }
  const t = el("table", { id: "edges-table" });
  const head = el("tr");
  for (const c of ["Source", "Destination", "Requests", "Req/s", "Success", "2xx", "Failed", "Connections",
                   "Bytes sent", "Bytes back", "Split share / weight"]) head.appendChild(el("th", {}, c));
  t.appendChild(head);
  const name = id => id === "unknown" ? "unknown (outside the mesh)" : id;
  const edges = graph.edges.slice().sort((a, b) => b.requests - a.requests || b.connections - a.connections);
  for (const e of edges) {
    const tr = el("tr", { "data-source": e.source, "data-target": e.target, "data-requests": Math.round(e.requests) });
    const dst = el("td", {}, name(e.target));
    dst.appendChild(el("span", { class: "tag" }, e.protocol));
    const cells = [el("td", {}, name(e.source)), dst,
      el("td", {}, e.protocol === "http" ? fmtInt(e.requests) : "\u2013"),
      el("td", {}, e.protocol === "http" ? fmtRate(e.rps) : "\u2013"),
      el("td", { class: rateClass(e.successRate) }, fmtPct(e.successRate)),
      el("td", {}, fmtInt(e.responses2xx)), el("td", {}, fmtInt(e.failures)),
      el("td", {}, fmtInt(e.connections)), el("td", {}, fmtBytes(e.bytesSent)), el("td", {}, fmtBytes(e.bytesReceived)),
      el("td", {}, e.split ? fmtPct(e.split.share) + " / " + fmtPct(e.split.weightShare) : "\u2013")];
    cells.forEach(c => tr.appendChild(c));
    t.appendChild(tr);
  }
  box.appendChild(t);
}

function drawSummary(graph) {
  const http = graph.edges.filter(e => e.protocol === "http");
  const requests = http.reduce((s, e) => s + e.requests, 0);
  const failures = http.reduce((s, e) => s + e.failures, 0);
  const rates = http.filter(e => e.rps !== null);
  document.getElementById("card-services").textContent = graph.nodes.filter(n => n.inMesh).length;
  document.getElementById("card-requests").textContent = fmtInt(requests);
  document.getElementById("card-rps").textContent = rates.length ? fmtRate(rates.reduce((s, e) => s + e.rps, 0)) : "\u2013";
  const success = document.getElementById("card-success");
  success.textContent = requests ? fmtPct((requests - failures) / requests) : "\u2013";
  success.className = "value " + rateClass(requests ? (requests - failures) / requests : null);
  document.getElementById("card-connections").textContent = fmtInt(graph.edges.reduce((s, e) => s + e.connections, 0));
  const status = document.getElementById("nodes-status");
  status.textContent = "";
  for (const s of graph.scrapes) {
    const p = el("span", { class: "pill", "data-node": s.node, "data-ok": s.ok, title: s.error || "metrics read" });
    p.appendChild(el("span", { class: "dot" + (s.ok ? "" : " bad") }));
    p.appendChild(document.createTextNode(s.node));
    status.appendChild(p); status.appendChild(document.createTextNode(" "));
  }
  const errors = graph.scrapes.filter(s => !s.ok).map(s => s.node + ": " + s.error);
  document.getElementById("errors").textContent = errors.join("; ");
}

function render(graph) {
  drawSummary(graph);
  drawGraph(graph);
  drawSplits(graph);
  drawTable(graph);
  document.body.setAttribute("data-rendered", graph.generatedAtUnixMs || 0);
}

function setLive(ok, text) {
  document.getElementById("live-dot").className = "dot" + (ok ? "" : " stale");
  document.getElementById("live-text").textContent = text;
}

async function refresh() {
  try {
    const response = await fetch("/api/graph", { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const graph = await response.json();
    render(graph);
    setLive(true, "live \u00b7 updated " + new Date(graph.generatedAtUnixMs || Date.now()).toLocaleTimeString() +
                  " \u00b7 every " + (INTERVAL_MS / 1000) + " s");
  } catch (err) {
    setLive(false, "not updating: " + err.message);
  }
}

const initial = /*FERRY_INITIAL_GRAPH*/null;
if (initial) { render(initial); setLive(true, "live \u00b7 every " + (INTERVAL_MS / 1000) + " s"); }
refresh();
setInterval(refresh, INTERVAL_MS);
</script>
</body>
</html>
)FERRYPAGE";

void ReplaceOnce(std::string& text, const std::string& marker, const std::string& with) {
  auto at = text.find(marker);
  if (at != std::string::npos) text.replace(at, marker.size(), with);
}

}  // namespace

std::string DashboardPageHtml(const nlohmann::json& initial_graph, int interval_ms) {
  // '<' only occurs inside JSON strings: escaping it keeps "</script>" in a name from ending the script.
  std::string graph = initial_graph.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
  std::string safe;
  safe.reserve(graph.size());
  for (char c : graph) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  std::string page = kPage;
  ReplaceOnce(page, kIntervalMarker, std::to_string(interval_ms));
  ReplaceOnce(page, kGraphMarker, safe);
  return page;
}

}  // namespace ferry::cli
