// Timeline of one watchlist subject (their alerts and sightings, audited with a reason) or of one stored
// track (its life-cycle and rule events), drawn on a time axis with one row per camera.
// Routes: #/timeline/subject/<id>, #/timeline/track/<id>.
import { api, query } from "./api.js";
import { clear, h, svg, toast, when } from "./dom.js";

const W = 1000;
const ROW = 34;
const LEFT = 130;

function ticks(t0, t1, n = 6) {
  const out = [];
  for (let i = 0; i <= n; i++) out.push(t0 + ((t1 - t0) * i) / n);
  return out;
}

export function axis(items) {
  // items: [{camera, start, end, label, kind}], drawn as bars per camera row with a labelled time axis
  const cameras = [...new Set(items.map((i) => i.camera))].sort();
  const t0 = Math.min(...items.map((i) => i.start)), t1 = Math.max(...items.map((i) => i.end), t0 + 60_000);
  const height = cameras.length * ROW + 50;
  const x = (t) => LEFT + ((t - t0) / (t1 - t0)) * (W - LEFT - 20);
  const drawing = svg("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": "Timeline", id: "timeline-axis", class: "chart" });
  cameras.forEach((cam, r) => {
    drawing.append(svg("text", { x: 8, y: r * ROW + 22, fill: "#e3e8ef", "font-size": 14 }, cam),
      svg("line", { x1: LEFT, x2: W - 20, y1: r * ROW + 17, y2: r * ROW + 17, stroke: "#2b333f" }));
  });
  const sameDay = new Date(t0).toDateString() === new Date(t1).toDateString();
  ticks(t0, t1).forEach((t, i, all) => {
    const px = x(t);
    const anchor = i === 0 ? "start" : i === all.length - 1 ? "end" : "middle";
    drawing.append(svg("line", { x1: px, x2: px, y1: 0, y2: cameras.length * ROW + 4, stroke: "#1f2732" }),
      svg("text", { x: px, y: cameras.length * ROW + 24, fill: "#93a0b1", "font-size": 12, "text-anchor": anchor },
        sameDay ? new Date(t).toLocaleTimeString() : new Date(t).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })));
  });
  drawing.append(svg("text", { x: W - 20, y: cameras.length * ROW + 44, fill: "#93a0b1", "font-size": 12, "text-anchor": "end" }, sameDay ? `time (local), ${new Date(t0).toLocaleDateString()}` : "time (local)"));
  for (const item of items) {
    const r = cameras.indexOf(item.camera);
    const colour = item.kind === "alert" ? "#ff5d5d" : "#4ea1ff";
    drawing.append(svg("rect", { x: x(item.start), y: r * ROW + 8, width: Math.max(6, x(item.end) - x(item.start)), height: 18, rx: 3, fill: colour },
      svg("title", {}, `${item.label} ${new Date(item.start).toLocaleString()}`)));
  }
  return drawing;
}

async function subjectTimeline(out, id, reason) {
  const [alerts, history] = await Promise.all([
    api(`/api/alerts${query({ subject_id: id, limit: 200 })}`),
    api(`/api/search/subject/${id}${query({ reason })}`),
  ]);
  const items = [
    ...alerts.items.map((a) => ({ camera: a.camera, start: Date.parse(a.at), end: Date.parse(a.last_seen || a.at), kind: "alert", label: `alert ${a.id} (${a.state})`, href: `#/alerts/${a.id}` })),
    ...history.results.map((r) => ({ camera: r.camera, start: Date.parse(r.first_seen), end: Date.parse(r.last_seen), kind: "sighting", label: `${r.label} sighting ${r.id}` })),
  ].sort((a, b) => a.start - b.start);
  show(out, items, history.notes);
}

async function trackTimeline(out, id) {
  const track = await api(`/api/tracks/${id}`);
  const events = await api(`/api/events${query({ camera: track.camera, track_id: track.track_id, run_id: track.run_id, limit: 500 })}`);
  const items = [{ camera: track.camera, start: Date.parse(track.first_seen), end: Date.parse(track.last_seen), kind: "sighting", label: `${track.label} track ${track.track_id}` },
    ...events.map((e) => ({ camera: track.camera, start: Date.parse(e.at), end: Date.parse(e.at), kind: e.kind === "alert" ? "alert" : "event", label: `${e.kind}${e.rule ? ` (${e.rule})` : ""}` }))];
  out.append(h("div", { class: "track-head" }, track.thumbnail ? h("img", { src: track.thumbnail, alt: `Track ${track.track_id}`, class: "person" }) : null,
    h("div", {}, h("h3", {}, `${track.label} track ${track.track_id} on ${track.camera}`),
      h("p", { class: "muted" }, `${when(track.first_seen)} – ${when(track.last_seen)} · ${track.hits} detections`))));
  show(out, items, []);
}

function show(out, items, notes) {
  if (!items.length) { out.append(h("p", { class: "muted", id: "timeline-empty" }, "Nothing in the record.")); return; }
  out.append(axis(items), h("ol", { class: "timeline", id: "timeline-list" }, items.map((i) => h("li", { class: i.kind },
    `${when(new Date(i.start).toISOString())} — ${i.camera}: `, i.href ? h("a", { href: i.href }, i.label) : i.label))));
  for (const note of notes) out.append(h("p", { class: "muted" }, note));
}

export async function enter(root, { arg }) {
  const [kind, id] = (arg || "").split("/");
  const subjects = await api("/api/watchlist/subjects");
  const pick = h("select", { id: "timeline-subject" }, subjects.map((s) => h("option", { value: s.id, selected: kind === "subject" && String(s.id) === id }, s.name)));
  const reason = h("input", { id: "timeline-reason", minlength: 3, required: true, placeholder: "why (audited)" });
  const trackId = h("input", { id: "timeline-track", type: "number", min: 1, placeholder: "stored track id", value: kind === "track" ? id : "" });
  const out = h("div", { id: "timeline-out" });
  const subjectForm = h("form", { class: "toolbar", id: "timeline-subject-form" },
    h("div", {}, h("label", { for: "timeline-subject" }, "Subject"), pick),
    h("div", {}, h("label", { for: "timeline-reason" }, "Reason"), reason),
    h("button", { type: "submit", disabled: !subjects.length }, "Subject timeline"));
  const trackForm = h("form", { class: "toolbar", id: "timeline-track-form" },
    h("div", {}, h("label", { for: "timeline-track" }, "Track"), trackId), h("button", { type: "submit" }, "Track timeline"));
  subjectForm.addEventListener("submit", async (e) => {
    e.preventDefault(); clear(out);
    try { await subjectTimeline(out, pick.value, reason.value); } catch (err) { toast(err.message, true); }
  });
  trackForm.addEventListener("submit", async (e) => {
    e.preventDefault(); clear(out);
    try { await trackTimeline(out, trackId.value); } catch (err) { toast(err.message, true); }
  });
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Timeline")),
    subjects.length ? "" : h("p", { class: "muted" }, "No watchlist subjects yet: a subject timeline needs one."),
    subjectForm, trackForm, out);
  if (kind === "track" && id) trackForm.requestSubmit();
}

export function leave() {}
