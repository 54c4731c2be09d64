// Follow mode: each followed journey's live trail on the map (pushed over a WebSocket, polled every 5 s), its last known
// camera and time, the cameras predicted next, and a form to follow any sighting (audited, anonymous).
import { api } from "./api.js";
import { clear, h, svg, toast, when } from "./dom.js";
import { background, projector } from "./map.js";

const W = 1000;
const H = 700;
const COLOURS = ["#f0b429", "#ff5d5d", "#4ecb71", "#c17bff", "#4ea1ff", "#ff9f43"];
let timer = null;
let socket = null;

function draw(layer, list, follows, where) {
  clear(layer); clear(list);
  follows.forEach((f, k) => {
    const colour = COLOURS[k % COLOURS.length];
    const points = f.timeline.filter((t) => where.has(t.camera)).map((t) => where.get(t.camera));
    if (points.length > 1) layer.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: colour, "stroke-width": 4 }));
    for (const next of f.predicted_next) {
      const pos = where.get(next.camera);
      if (pos) layer.append(svg("circle", { cx: pos[0], cy: pos[1], r: 20, fill: "none", stroke: colour, "stroke-width": 2, "stroke-dasharray": "4 4", "data-predicted": next.camera }));
    }
    const last = f.last_known && where.get(f.last_known.camera);
    if (last) layer.append(svg("circle", { cx: last[0], cy: last[1], r: 13, fill: colour, "data-last": f.last_known.camera }));
    const title = f.alert_id ? `follow ${f.id} (alert ${f.alert_id})` : `follow ${f.id} (anonymous journey ${f.journey})`;
    list.append(h("li", { "data-follow": f.id }, h("strong", {}, title), ` — ${f.reason}. `,
      f.last_known ? `Last seen on ${f.last_known.camera} at ${when(f.last_known.time)}. ` : "Not seen yet. ",
      f.predicted_next.length ? `Next likely: ${f.predicted_next.map((n) => n.camera).join(", ")}.` : "",
      h("ol", { class: "timeline" }, f.timeline.map((t) => h("li", {}, `${when(t.time)} — ${t.camera}`,
        t.score === null ? "" : ` (link ${Number(t.score).toFixed(2)})`))),
      (f.retracted || []).length ? h("ul", { class: "timeline retracted" }, f.retracted.map((t) => h("li", { "data-retracted": t.sighting_id },
        h("del", {}, `${when(t.time)} — ${t.camera}`), ` withdrawn: ${t.retracted_reason}`))) : ""));
  });
  if (!follows.length) list.append(h("li", { class: "muted" }, "Nothing is being followed."));
}

export async function enter(root) {
  const config = await api("/api/map");
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Follow")));
  const sighting = h("input", { id: "follow-sighting", type: "number", min: 1, required: true, placeholder: "sighting id" });
  const reason = h("input", { id: "follow-reason", minlength: 3, required: true, placeholder: "why (audited)" });
  const form = h("form", { class: "toolbar", id: "follow-form" }, sighting, reason, h("button", { type: "submit" }, "Follow"));
  const layer = svg("g", { id: "follow-trails" });
  const list = h("ol", { class: "timeline", id: "follow-list" });
  const where = new Map();
  if (config.cameras.length && config.bounds) {
    const project = projector(config.bounds);
    const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Followed journeys", id: "follow-map" });
    background(drawing, config);
    const cams = svg("g", {});
    for (const cam of config.cameras) {
      const [x, y] = project([cam.lat, cam.lon]);
      where.set(cam.name, [x, y]);
      cams.append(svg("circle", { cx: x, cy: y, r: 7, fill: "#4ea1ff" }), svg("text", { x: x + 11, y: y + 5, fill: "#e3e8ef", "font-size": 16 }, cam.name));
    }
    drawing.append(layer, cams);
    root.append(h("div", { class: "map-wrap" }, drawing));
  }
  root.append(form, list);
  const refresh = async () => {
    try { draw(layer, list, (await api("/api/journeys/follows")).items, where); } catch (err) { toast(err.message, true); }
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/journeys/follows", { method: "POST", body: { sighting_id: Number(sighting.value), reason: reason.value } });
      await refresh();
    } catch (err) { toast(err.message, true); }
  });
  await refresh();
  timer = setInterval(refresh, 5000);
  // each hop appended by the linker of this server arrives at once; the poll covers a separate `watchnet run`
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/api/journeys/ws`);
  socket.addEventListener("message", () => refresh());
}

export function leave() {
  if (timer) clearInterval(timer);
  timer = null;
  if (socket) socket.close();
  socket = null;
}
