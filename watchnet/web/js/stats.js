// Statistics: tracks per camera and per class (bars with a value axis) and per hour over the last 24 hours
// (a column chart with a time axis and a count axis). Counts only, no people.
import { api } from "./api.js";
import { h, svg } from "./dom.js";

const TEXT = "#e3e8ef";
const MUTED = "#93a0b1";
const GRID = "#2b333f";

function niceMax(n) {
  if (n <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= n);
}

export function barChart(title, entries, id) {
  const W = 420, left = 110, row = 30, top = 10, bottom = 40;
  const height = top + Math.max(entries.length, 1) * row + bottom;
  const max = niceMax(Math.max(1, ...entries.map(([, n]) => n)));
  const x = (v) => left + (v / max) * (W - left - 30);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart", role: "img", "aria-label": title, id });
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    chart.append(svg("line", { x1: x(v), x2: x(v), y1: top, y2: height - bottom, stroke: GRID }),
      svg("text", { x: x(v), y: height - bottom + 16, fill: MUTED, "font-size": 12, "text-anchor": "middle" }, String(Math.round(v))));
  }
  chart.append(svg("text", { x: W - 30, y: height - 6, fill: MUTED, "font-size": 12, "text-anchor": "end" }, "tracks"));
  entries.forEach(([name, n], i) => {
    const y = top + i * row;
    chart.append(svg("text", { x: left - 8, y: y + 18, fill: TEXT, "font-size": 13, "text-anchor": "end" }, name),
      svg("rect", { x: left, y: y + 5, width: Math.max(1, x(n) - left), height: row - 10, fill: "#4ea1ff" }),
      svg("text", { x: x(n) + 4, y: y + 18, fill: TEXT, "font-size": 12 }, String(n)));
  });
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), entries.length ? chart : h("p", { class: "muted" }, "Nothing in this window."));
}

function hourChart(buckets) {
  const W = 1000, H = 260, left = 50, bottom = 40, top = 28;
  const now = new Date(); now.setMinutes(0, 0, 0);
  const hours = [...Array(24).keys()].map((i) => new Date(now.getTime() - (23 - i) * 3600_000));
  const counts = hours.map((d) => buckets.filter((b) => Math.abs(Date.parse(b.hour) - d.getTime()) < 1800_000).reduce((s, b) => s + b.count, 0));
  const max = niceMax(Math.max(1, ...counts));
  const bw = (W - left - 10) / 24;
  const y = (v) => H - bottom - (v / max) * (H - bottom - top);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": "Tracks per hour", id: "chart-hourly" });
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    chart.append(svg("line", { x1: left, x2: W - 10, y1: y(v), y2: y(v), stroke: GRID }),
      svg("text", { x: left - 6, y: y(v) + 4, fill: MUTED, "font-size": 12, "text-anchor": "end" }, String(Math.round(v))));
  }
  hours.forEach((d, i) => {
    chart.append(svg("rect", { x: left + i * bw + 2, y: y(counts[i]), width: bw - 4, height: H - bottom - y(counts[i]), fill: "#4ea1ff" },
      svg("title", {}, `${d.toLocaleString()}: ${counts[i]}`)));
    if (i % 3 === 0 || i === 23) chart.append(svg("text", { x: left + i * bw + bw / 2, y: H - bottom + 16, fill: MUTED, "font-size": 12, "text-anchor": "middle" },
      d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })));
  });
  chart.append(svg("text", { x: W - 10, y: H - 4, fill: MUTED, "font-size": 12, "text-anchor": "end" }, "hour (local time)"),
    svg("text", { x: left, y: 14, fill: MUTED, "font-size": 12 }, "tracks per hour"));
  return h("section", { class: "card wide-card", "aria-label": "Per hour" }, h("h2", {}, "Per hour, last 24 hours"), chart);
}

export async function enter(root) {
  const s = await api("/api/stats");
  root.append(h("h2", {}, `Statistics: ${s.total} tracks in the last 24 hours`), hourChart(s.hourly),
    h("div", { class: "grid stats-grid" }, barChart("Per camera", Object.entries(s.per_camera), "chart-camera"),
      barChart("Per class", Object.entries(s.per_class), "chart-class")));
}

export function leave() {}
