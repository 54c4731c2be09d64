// Map of cameras: an offline SVG (plain grid, or the configured site-plan image) with cameras placed
// by lat/lon; map tiles only when a tile URL is configured. Shows recent alerts per camera and a
// subject's camera-to-camera path (their sightings/alerts in time order, fetched as an audited search).
import { api, query } from "./api.js";
import { clear, h, svg, toast, when } from "./dom.js";

const W = 1000;
const H = 700;

export function projector(bounds) {
  const [[south, west], [north, east]] = bounds;
  const y = (lat) => {  // Web Mercator, so tiles and positions agree
    const r = (lat * Math.PI) / 180;
    return Math.log(Math.tan(Math.PI / 4 + r / 2));
  };
  const top = y(north), bottom = y(south);
  return ([lat, lon]) => [((lon - west) / (east - west)) * W, ((top - y(lat)) / (top - bottom)) * H];
}

function tiles(group, template, bounds) {
  const [[south, west], [north, east]] = bounds;
  const zoom = Math.max(1, Math.min(19, Math.floor(Math.log2((360 / (east - west)) * (W / 256)))));
  const n = 2 ** zoom;
  const tx = (lon) => ((lon + 180) / 360) * n;
  const ty = (lat) => { const r = (lat * Math.PI) / 180; return ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n; };
  const x0 = tx(west), x1 = tx(east), y0 = ty(north), y1 = ty(south);
  const sx = W / (x1 - x0), sy = H / (y1 - y0);
  for (let x = Math.floor(x0); x < x1; x++) {
    for (let y = Math.floor(y0); y < y1; y++) {
      const href = template.replace("{z}", zoom).replace("{x}", x).replace("{y}", y).replace("{s}", "a");
      group.append(svg("image", { href, x: (x - x0) * sx, y: (y - y0) * sy, width: sx + 0.5, height: sy + 0.5, preserveAspectRatio: "none" }));
    }
  }
}

export function background(root, config) {
  const g = svg("g", { class: "background" });
  if (config.mode === "tiles" && config.tiles && config.bounds) tiles(g, config.tiles, config.bounds);
  else if (config.mode === "plan" && config.image) g.append(svg("image", { href: config.image, x: 0, y: 0, width: W, height: H, preserveAspectRatio: "none" }));
  else {
    g.append(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#10151c" }));
    for (let i = 1; i < 10; i++) {
      g.append(svg("line", { x1: (i * W) / 10, y1: 0, x2: (i * W) / 10, y2: H, stroke: "#1c2430" }));
      g.append(svg("line", { x1: 0, y1: (i * H) / 10, x2: W, y2: (i * H) / 10, stroke: "#1c2430" }));
    }
  }
  root.append(g);
}

export async function enter(root, { user, arg }) {
  const config = await api("/api/map");
  const canOperate = user.role === "admin" || user.role === "operator";
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Map"),
    h("span", { class: "muted" }, config.mode === "tiles" ? "tiles" : config.mode === "plan" ? "site plan" : "offline plan (no tiles configured)")));
  if (!config.cameras.length || !config.bounds) {
    root.append(h("p", { class: "muted", id: "map-empty" }, "No camera has a position (lat/lon) yet."));
    return;
  }
  const project = projector(config.bounds);
  const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Map of cameras", id: "map" });
  background(drawing, config);
  const pathLayer = svg("g", { id: "trajectory" });
  const alertLayer = svg("g", { id: "alert-markers" });
  const camLayer = svg("g", { id: "cameras" });
  drawing.append(pathLayer, alertLayer, camLayer);
  const where = new Map();
  for (const cam of config.cameras) {
    const [x, y] = project([cam.lat, cam.lon]);
    where.set(cam.name, [x, y]);
    camLayer.append(svg("g", { "data-camera": cam.name },
      svg("circle", { cx: x, cy: y, r: 9, fill: "#4ea1ff", stroke: "#fff", "stroke-width": 2 }),
      svg("text", { x: x + 13, y: y + 5, fill: "#e3e8ef", "font-size": 18 }, cam.name),
      svg("title", {}, `${cam.name} (${cam.lat.toFixed(5)}, ${cam.lon.toFixed(5)})`)));
  }
  root.append(h("div", { class: "map-wrap" }, drawing));
  if (config.attribution) root.append(h("p", { class: "muted" }, config.attribution));
  if (!canOperate && user.role !== "auditor") return;

  // recent alerts per camera
  try {
    const page = await api(`/api/alerts${query({ limit: 200 })}`);
    const counts = new Map();
    for (const a of page.items) counts.set(a.camera, (counts.get(a.camera) || 0) + 1);
    for (const [name, count] of counts) {
      const pos = where.get(name);
      if (!pos) continue;
      alertLayer.append(svg("g", { "data-alerts": name },
        svg("circle", { cx: pos[0], cy: pos[1], r: 16 + Math.min(count, 10) * 2, fill: "none", stroke: "#ff3b3b", "stroke-width": 3 }),
        svg("text", { x: pos[0] - 6, y: pos[1] - 22, fill: "#ff5d5d", "font-size": 16 }, String(count))));
    }
  } catch { /* auditors without alerts */ }
  if (!canOperate) return;

  // a subject's path
  const subjects = await api("/api/watchlist/subjects");
  const pick = h("select", { id: "map-subject" }, subjects.map((s) => h("option", { value: s.id, selected: String(s.id) === arg }, s.name)));
  const reason = h("input", { id: "map-reason", placeholder: "why (audited)", minlength: 3, required: true });
  const list = h("ol", { class: "timeline", id: "map-steps" });
  const form = h("form", { class: "toolbar", id: "map-form" },
    h("div", {}, h("label", { for: "map-subject" }, "Subject"), pick),
    h("div", {}, h("label", { for: "map-reason" }, "Reason"), reason),
    h("button", { type: "submit", disabled: !subjects.length }, "Show path"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(pathLayer); clear(list);
    try {
      const page = await api(`/api/search/subject/${pick.value}${query({ reason: reason.value })}`);
      const steps = [...page.results].sort((a, b) => a.first_seen.localeCompare(b.first_seen)).filter((r) => where.has(r.camera));
      const points = steps.map((r) => where.get(r.camera));
      if (points.length > 1) pathLayer.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#f0b429", "stroke-width": 4, "stroke-dasharray": "10 6" }));
      steps.forEach((r, i) => {
        const [x, y] = where.get(r.camera);
        pathLayer.append(svg("g", {}, svg("circle", { cx: x, cy: y, r: 14, fill: "#f0b429" }), svg("text", { x: x - 5, y: y + 5, fill: "#000", "font-size": 14 }, String(i + 1))));
        list.append(h("li", {}, `${i + 1}. ${when(r.first_seen)} — ${r.camera}`));
      });
      if (!steps.length) list.append(h("li", { class: "muted" }, "No sightings of this subject on placed cameras in the window."));
      for (const note of page.notes) list.append(h("li", { class: "muted" }, note));
    } catch (err) { toast(err.message, true); }
  });
  root.append(form, list);
}

export function leave() {}
