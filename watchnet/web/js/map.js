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

const HEALTH = { running: "#3fbf7f", connecting: "#4ea1ff", reconnecting: "#4ea1ff", unreachable: "#ff5d5d", failed: "#ff5d5d" };
export function healthColour(state) { return HEALTH[state] || "#f0b429"; }

export function scaleBar(bounds) {
  // metres across the drawing at its middle latitude, rounded to a 1/2/5 step about a fifth of the width
  const [[south, west], [north, east]] = bounds;
  const metres = (east - west) * 111320 * Math.cos(((south + north) / 2) * Math.PI / 180);
  const target = metres / 5;
  const p = 10 ** Math.floor(Math.log10(target));
  const step = [1, 2, 5, 10].map((m) => m * p).filter((m) => m <= target).pop() || p;
  const px = (step / metres) * W;
  return svg("g", { id: "map-scale" },
    svg("rect", { x: 20, y: H - 46, width: px + 20, height: 34, fill: "#000a" }),
    svg("line", { x1: 30, x2: 30 + px, y1: H - 22, y2: H - 22, stroke: "#fff", "stroke-width": 4 }),
    svg("text", { x: 30, y: H - 28, fill: "#fff", "font-size": 16 }, step >= 1000 ? `${step / 1000} km` : `${step} m`));
}

function heading(x, y, deg, fov, colour) {
  const r = 60, a0 = ((deg - fov / 2 - 90) * Math.PI) / 180, a1 = ((deg + fov / 2 - 90) * Math.PI) / 180;
  const p0 = [x + r * Math.cos(a0), y + r * Math.sin(a0)], p1 = [x + r * Math.cos(a1), y + r * Math.sin(a1)];
  return svg("path", { d: `M${x},${y} L${p0} A${r},${r} 0 0 1 ${p1} Z`, fill: colour, "fill-opacity": 0.25, stroke: colour, class: "heading" });
}

// Admins: upload a site plan (PNG, JPEG or WebP) with the coordinates of its corners; it replaces the map's
// background until removed. The server checks the bytes; the corners default to what the map spans now.
function planForm(config, reload) {
  const b = config.bounds || [[51.44, -0.945], [51.446, -0.936]];
  const num = (id, value, min, max) => h("input", { id, type: "number", step: "any", min, max, required: true, value });
  const file = h("input", { id: "plan-file", type: "file", accept: "image/png,image/jpeg,image/webp", required: true });
  const inputs = { south: num("plan-south", b[0][0], -90, 90), west: num("plan-west", b[0][1], -180, 180),
    north: num("plan-north", b[1][0], -90, 90), east: num("plan-east", b[1][1], -180, 180) };
  const result = h("p", { id: "plan-result", class: "muted", "aria-live": "polite" });
  const field = (label, input) => h("div", { class: "field" }, h("label", { for: input.id }, label), input);
  const remove = config.uploaded ? h("button", { type: "button", class: "danger", id: "plan-remove", onclick: async () => {
    try { await api("/api/map/plan", { method: "DELETE" }); toast("Site plan removed"); reload(); } catch (err) { result.className = "bad"; result.textContent = err.message; }
  } }, "Remove uploaded plan") : null;
  const form = h("form", { class: "plan-upload", id: "plan-form" },
    h("div", { class: "toolbar" }, field("Site plan image", file), field("South (bottom) latitude", inputs.south), field("West (left) longitude", inputs.west),
      field("North (top) latitude", inputs.north), field("East (right) longitude", inputs.east)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", id: "plan-upload" }, "Upload plan"), remove), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData();
    data.append("image", file.files[0]);
    for (const [key, input] of Object.entries(inputs)) data.append(key, input.value);
    result.className = "muted"; result.textContent = "Uploading…";
    try {
      await api("/api/map/plan", { method: "PUT", form: data });
      toast("Site plan uploaded"); reload();
    } catch (err) { result.className = "bad"; result.textContent = err.message; }
  });
  return h("details", { class: "card plan-card", id: "plan-details" }, h("summary", {}, "Site plan (admins)"), form);
}

export async function enter(root, { user, arg }) {
  const [config, cams] = await Promise.all([api("/api/map"), api("/api/cameras")]);
  const states = new Map(cams.map((c) => [c.name, c.status]));
  const canOperate = user.role === "admin" || user.role === "operator";
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Map"),
    h("span", { class: "muted" }, config.mode === "tiles" ? "tiles" : config.mode === "plan" ? (config.uploaded ? "uploaded site plan" : "site plan") : "offline plan (no tiles configured)")));
  if (user.role === "admin") root.append(planForm(config, () => { clear(root); enter(root, { user, arg }); }));
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
    const status = states.get(cam.name) || { state: "offline" };
    const colour = healthColour(status.state);
    camLayer.append(svg("g", { "data-camera": cam.name, "data-state": status.state },
      cam.heading === null || cam.heading === undefined ? null : heading(x, y, cam.heading, cam.fov || 60, colour),
      svg("circle", { cx: x, cy: y, r: 10, fill: colour, stroke: "#fff", "stroke-width": 2 }),
      svg("text", { x: x + 14, y: y + 6, fill: "#e3e8ef", "font-size": 20, "paint-order": "stroke", stroke: "#000", "stroke-width": 3 }, cam.name),
      svg("title", {}, `${cam.name}: ${status.state}${status.error ? ` (${status.error})` : ""} (${cam.lat.toFixed(5)}, ${cam.lon.toFixed(5)})`)));
  }
  drawing.append(scaleBar(config.bounds));
  const dot = (colour, text) => h("span", {}, h("span", { class: "dot", dataset: {} }), text);
  const legend = h("div", { class: "legend", id: "map-legend" },
    [["#3fbf7f", "camera running"], ["#4ea1ff", "connecting / reconnecting"], ["#ff5d5d", "unreachable / failed"], ["#f0b429", "ended / offline"],
      ["transparent", "wedge: heading and field of view"], ["#ff3b3b", "ring: alerts (count, latest time)"], ["#f0b429", "numbered path: subject's sightings in time order"]]
      .map(([c, t]) => { const el = dot(c, t); el.firstChild.style.background = c; if (c === "transparent") el.firstChild.style.border = "1px solid #93a0b1"; return el; }));
  root.append(h("div", { class: "map-wrap" }, drawing), legend);
  if (config.attribution) root.append(h("p", { class: "muted" }, config.attribution));
  if (!canOperate && user.role !== "auditor") return;

  // recent alerts per camera
  try {
    const page = await api(`/api/alerts${query({ limit: 200 })}`);
    const counts = new Map();
    const latest = new Map();
    for (const a of page.items) {
      counts.set(a.camera, (counts.get(a.camera) || 0) + 1);
      const t = a.last_seen || a.at;
      if (!latest.has(a.camera) || latest.get(a.camera) < t) latest.set(a.camera, t);
    }
    for (const [name, count] of counts) {
      const pos = where.get(name);
      if (!pos) continue;
      const r = 16 + Math.min(count, 10) * 2;
      alertLayer.append(svg("g", { "data-alerts": name },
        svg("circle", { cx: pos[0], cy: pos[1], r, fill: "none", stroke: "#ff3b3b", "stroke-width": 3 }),
        svg("text", { x: pos[0] - r, y: pos[1] - r - 6, fill: "#ff5d5d", "font-size": 16, "paint-order": "stroke", stroke: "#000", "stroke-width": 3 },
          `${count} alert${count === 1 ? "" : "s"}, last ${new Date(latest.get(name)).toLocaleTimeString()}`)));
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
        pathLayer.append(svg("g", {}, svg("circle", { cx: x, cy: y, r: 14, fill: "#f0b429" }), svg("text", { x: x - 5, y: y + 5, fill: "#000", "font-size": 14 }, String(i + 1)),
          svg("text", { x: x + 16, y: y + 26 + i * 16, fill: "#f0b429", "font-size": 14 }, `${i + 1}: ${new Date(r.first_seen).toLocaleTimeString()}`)));
        list.append(h("li", {}, `${i + 1}. ${when(r.first_seen)} — ${r.camera}`));
      });
      if (!steps.length) list.append(h("li", { class: "muted" }, "No sightings of this subject on placed cameras in the window."));
      for (const note of page.notes) list.append(h("li", { class: "muted" }, note));
    } catch (err) { toast(err.message, true); }
  });
  root.append(form, list);
}

export function leave() {}
