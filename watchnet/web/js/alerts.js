// Alerts: a list of grouped alerts (one per subject and camera window) beside a decision view with the
// evidence side by side: enrolled photo(s), the matched face, the stored best crops of the grouped tracks,
// the full scene frame, the camera on the map and the journey across cameras when one is linked.
// The two-person confirm flow ("1 of 2"), dismiss (optionally as a negative example), close.
// Keys: j / k (or arrows) move, c confirms, d dismisses, x closes, ? lists the keys.
// Decisions by anyone update every open console live.
import { api, query } from "./api.js";
import { clear, h, svg, toast, when } from "./dom.js";
import { background, projector } from "./map.js";

let unsubscribe = null;
let onKey = null;
const cards = new Map();
let current = { user: null, list: null, panel: null, selected: null, alerts: new Map(), map: null };

function canDecide(user) { return user.role === "admin" || user.role === "operator"; }
function confirmedBy(alert, user) { return (alert.decisions || []).some((d) => d.action === "confirm" && d.actor === user.name); }

function card(alert, fresh = false) {
  const el = h("article", {
    class: `alert-card ${alert.state}${fresh ? " fresh" : ""}${current.selected === alert.id ? " selected" : ""}`,
    "data-alert": alert.id, tabindex: 0, "aria-label": `Alert ${alert.id}: ${alert.subject_name} on ${alert.camera}`,
    onclick: () => select(alert.id),
    onkeydown: (e) => { if (e.key === "Enter") select(alert.id); },
  },
  alert.crop ? h("img", { src: alert.crop, alt: `Face that matched ${alert.subject_name}`, loading: "lazy" }) : h("div", { class: "thumb" }),
  h("div", {},
    h("div", { class: "title" }, alert.subject_name, " ", h("span", { class: "muted" }, `on ${alert.camera}`)),
    h("div", { class: "muted" }, when(alert.at), alert.matches > 1 ? ` · ${alert.matches} matches until ${when(alert.last_seen)}` : "",
      ` · score ${alert.score.toFixed(3)} · `, h("span", { "data-state": alert.state }, alert.state)),
    alert.state === "new" ? h("div", { class: "confirmations", "data-confirmations": alert.id },
      `${alert.confirmations} of ${alert.confirmations_needed} confirmations`) : null,
    canDecide(current.user) ? actions(alert) : null));
  return el;
}

function actions(alert, withKeys = false) {
  const mine = confirmedBy(alert, current.user);
  const box = h("div", { class: "actions" });
  const key = (k) => (withKeys ? h("kbd", {}, k) : null);
  if (alert.state === "new") {
    box.append(h("button", { class: "primary", type: "button", disabled: mine, "data-action": "confirm",
      title: mine ? "A second, different user must confirm" : "Confirm (c)",
      onclick: (e) => { e.stopPropagation(); decide(alert.id, "confirm"); } }, mine ? "Confirmed by you" : "Confirm", key("c")));
  }
  if (alert.state === "new" || alert.state === "confirmed") {
    const negative = h("input", { type: "checkbox", id: `neg-${alert.id}${withKeys ? "-d" : ""}`, onclick: (e) => e.stopPropagation() });
    box.append(h("button", { class: "danger", type: "button", "data-action": "dismiss", title: "Dismiss (d)",
      onclick: (e) => { e.stopPropagation(); decide(alert.id, "dismiss", { negative: negative.checked }); } }, "Dismiss", key("d")),
    h("label", { for: negative.id, class: "muted inline" }, negative, " add as negative example"));
  }
  if (alert.state === "confirmed") {
    box.append(h("button", { type: "button", "data-action": "close", title: "Close (x)",
      onclick: (e) => { e.stopPropagation(); decide(alert.id, "close"); } }, "Close", key("x")));
  }
  return box;
}

async function decide(id, action, body = {}) {
  try {
    const alert = await api(`/api/alerts/${id}/${action}`, { method: "POST", body });
    replace(alert);
    if (current.selected === id) showDecision(alert, current.evidence);
    toast(`Alert ${id}: ${action} recorded`);
  } catch (err) { toast(err.message, true); }
}

function replace(alert, fresh = false) {
  current.alerts.set(alert.id, alert);
  const el = card(alert, fresh);
  const old = cards.get(alert.id);
  if (old && old.isConnected) old.replaceWith(el);
  else if (current.list) current.list.prepend(el);
  cards.set(alert.id, el);
}

// The clip around the match is written a few seconds after the alert (the seconds after it must pass):
// until it exists the route answers 404 and the player tries again a few times. It starts loading once
// the view's pictures have (at most a second later): the faces and the scene come first.
function clip(alert) {
  const src = `/api/alerts/${alert.id}/clip.mp4`;
  const note = h("p", { class: "muted", id: "decision-clip-note" }, "");
  const video = h("video", { id: "decision-clip", class: "scene", controls: true, muted: true, loop: true, autoplay: true, playsinline: true, preload: "auto", "aria-label": "Video around the match" });
  video.muted = true;
  let tries = 0;
  video.addEventListener("error", () => {
    tries += 1;
    if (tries > 6 || !video.isConnected) { note.textContent = "No clip for this alert."; video.hidden = true; return; }
    note.textContent = "The clip is being written…";
    setTimeout(() => { if (video.isConnected) video.src = `${src}?try=${tries}`; }, 2500);
  });
  video.addEventListener("loadeddata", () => { note.textContent = ""; video.hidden = false; });
  const begin = () => { if (video.isConnected && !video.getAttribute("src")) video.src = src; };
  requestAnimationFrame(() => {
    const pending = [...(video.closest("#decision")?.querySelectorAll("img") || [])].filter((i) => !i.complete);
    if (!pending.length) { begin(); return; }
    let left = pending.length;
    for (const img of pending) for (const type of ["load", "error"]) img.addEventListener(type, () => { left -= 1; if (!left) begin(); }, { once: true });
    setTimeout(begin, 1000);
  });
  return h("div", {}, video, note);
}

function figure(caption, ...content) {
  return h("figure", { class: "evidence" }, ...content, h("figcaption", {}, caption));
}

function miniMap(alert, journey) {
  const config = current.map;
  if (!config || !config.bounds || !config.cameras.length) return h("p", { class: "muted" }, "No camera has a map position.");
  const project = projector(config.bounds);
  const drawing = svg("svg", { viewBox: "0 0 1000 700", role: "img", "aria-label": `Camera ${alert.camera} on the map`, id: "decision-map" });
  background(drawing, config);
  const where = new Map(config.cameras.map((c) => [c.name, project([c.lat, c.lon])]));
  if (journey) {
    const points = journey.trail.filter((t) => where.has(t.camera)).map((t) => where.get(t.camera));
    if (points.length > 1) drawing.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#f0b429", "stroke-width": 6, "stroke-dasharray": "14 8" }));
  }
  for (const [name, [x, y]] of where) {
    const here = name === alert.camera;
    drawing.append(svg("g", { "data-camera": name, class: here ? "here" : "" },
      svg("circle", { cx: x, cy: y, r: here ? 18 : 10, fill: here ? "#ff3b3b" : "#4ea1ff", stroke: "#fff", "stroke-width": 3 }),
      svg("text", { x: x + 22, y: y + 8, fill: "#e3e8ef", "font-size": 30 }, name)));
  }
  return drawing;
}

function journeyView(ev) {
  if (!ev.journey) return h("p", { class: "muted", id: "decision-journey" }, `Journey: ${ev.journey_note || "none"}.`);
  const j = ev.journey;
  return h("div", { id: "decision-journey" },
    h("h3", {}, `Journey ${j.journey}: ${j.cameras.length} camera${j.cameras.length === 1 ? "" : "s"}`),
    h("ol", { class: "timeline" }, j.trail.map((t) => h("li", {}, `${when(t.first_seen)} — ${t.camera}`,
      t.link ? ` (link ${Number(t.link.score).toFixed(2)})` : ""))),
    j.predicted_next.length ? h("p", { class: "muted" }, `Next likely: ${j.predicted_next.map((n) => n.camera).join(", ")}`) : null);
}

function showDecision(alert, ev) {
  const panel = clear(current.panel);
  const strip = ev.tracks.filter((t) => t.thumbnail);
  panel.append(
    h("header", { class: "decision-head" },
      h("h2", {}, alert.subject_name, h("span", { class: "muted" }, ` on ${alert.camera}`)),
      h("div", { class: "muted" }, `${when(alert.at)}${alert.matches > 1 ? ` – ${when(alert.last_seen)}, ${alert.matches} matches` : ""} · best score ${alert.score.toFixed(3)} · tracks ${alert.track_ids.join(", ")} · ${alert.state}`),
      alert.state === "new" ? h("div", { class: "confirmations" }, `${alert.confirmations} of ${alert.confirmations_needed} confirmations`) : null,
      canDecide(current.user) ? actions(alert, true) : null),
    h("div", { class: "evidence-row" },
      figure("Enrolled", ev.photos.length ? ev.photos.map((src) => h("img", { src, alt: `Enrolled photo of ${alert.subject_name}`, class: "face" }))
        : h("div", { class: "face empty" }, "no photo")),
      figure("Matched face", alert.crop ? h("img", { src: alert.crop, alt: "Face that matched", class: "face", id: "decision-crop" }) : h("div", { class: "face empty" }, "no crop")),
      figure(`Track crops (${strip.length})`, strip.length
        ? h("div", { class: "strip", id: "decision-tracks" }, strip.map((t) => h("img", { src: t.thumbnail, alt: `Track ${t.track_id} at ${when(t.first_seen)}`, title: `track ${t.track_id}, ${when(t.first_seen)} – ${when(t.last_seen)}`, loading: "lazy" })))
        : h("div", { class: "face empty", id: "decision-tracks" }, "stored when the track ends"))),
    h("div", { class: "evidence-row wide" },
      h("div", { class: "scene-pair" },
        figure("Scene at the match", alert.snapshot ? h("img", { src: alert.snapshot, alt: "Whole frame at the match", class: "scene", id: "decision-scene" }) : h("div", { class: "scene empty" }, "no frame")),
        alert.snapshot ? figure("Seconds before and after", clip(alert)) : null),
      h("div", { class: "side" }, figure("Camera on the map", miniMap(alert, ev.journey)), journeyView(ev))),
    (alert.decisions || []).length ? h("p", { class: "muted", id: "decision-history" }, "History: ", alert.decisions.map((d) => `${d.action} by ${d.actor} ${when(d.at)}${d.note ? ` (${d.note})` : ""}`).join("; ")) : "");
  panel.dataset.alert = alert.id;
}

async function select(id) {
  current.selected = id;
  for (const [key, el] of cards) el.classList.toggle("selected", key === id);
  cards.get(id)?.scrollIntoView({ block: "nearest" });
  current.panel.setAttribute("aria-busy", "true");
  try {
    const ev = await api(`/api/alerts/${id}/evidence`);
    if (current.selected !== id) return;
    current.evidence = ev;
    current.alerts.set(id, ev.alert);
    showDecision(ev.alert, ev);
  } catch (err) { toast(err.message, true); }
  current.panel.removeAttribute("aria-busy");
}

function move(step) {
  const ids = [...current.list.querySelectorAll(".alert-card")].map((el) => Number(el.dataset.alert));
  if (!ids.length) return;
  const at = ids.indexOf(current.selected);
  select(ids[Math.min(ids.length - 1, Math.max(0, at + step))] ?? ids[0]);
}

function keys(event) {
  if (event.target.closest("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
  const alert = current.alerts.get(current.selected);
  const act = { c: "confirm", d: "dismiss", x: "close" }[event.key];
  if (event.key === "j" || event.key === "ArrowDown") { move(1); event.preventDefault(); }
  else if (event.key === "k" || event.key === "ArrowUp") { move(-1); event.preventDefault(); }
  else if (event.key === "?") toast("Keys: j/k or arrows move · c confirm · d dismiss · x close");
  else if (act && alert && canDecide(current.user)) {
    const button = current.panel.querySelector(`button[data-action="${act}"]`);
    if (button && !button.disabled) button.click();
  }
}

async function onMessage(message) {
  if (message.type !== "alert" || !current.list) return;
  const id = message.alert.id;
  if (!id) return;
  try {
    const alert = await api(`/api/alerts/${id}`);
    replace(alert, !cards.has(id));
    if (current.selected === id && current.evidence) showDecision(alert, current.evidence);
  } catch { /* gone */ }
}

const PRESETS = { "": null, "1h": 3600, "24h": 86400, "7d": 7 * 86400 };

export async function enter(root, { user, feed, arg }) {
  current = { user, list: null, panel: null, selected: null, alerts: new Map(), map: null, evidence: null };
  cards.clear();
  if (feed) feed.seen();
  const [cams, map] = await Promise.all([api("/api/cameras"), api("/api/map").catch(() => null)]);
  if (!root.isConnected) return;  // the user moved on while this loaded
  current.map = map;
  const stateFilter = h("select", { id: "alert-state" }, ["", "new", "confirmed", "closed", "dismissed"].map((s) => h("option", { value: s }, s || "any")));
  const cameraFilter = h("select", { id: "alert-camera" }, ["", ...cams.map((c) => c.name)].map((s) => h("option", { value: s }, s || "any")));
  const since = h("select", { id: "alert-since" }, Object.keys(PRESETS).map((s) => h("option", { value: s }, s ? `last ${s}` : "any time")));
  const total = h("span", { class: "muted", id: "alert-total" });
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Alerts"),
    h("div", {}, h("label", { for: "alert-state" }, "State"), stateFilter),
    h("div", {}, h("label", { for: "alert-camera" }, "Camera"), cameraFilter),
    h("div", {}, h("label", { for: "alert-since" }, "Time"), since), total,
    h("span", { class: "muted keys" }, "Keys: ", h("kbd", {}, "j"), "/", h("kbd", {}, "k"), " move · ", h("kbd", {}, "c"), " confirm · ", h("kbd", {}, "d"), " dismiss · ", h("kbd", {}, "x"), " close")));
  const list = h("div", { class: "list alert-list", id: "alert-list" });
  const panel = h("section", { class: "decision card", id: "decision", "aria-live": "polite", "aria-label": "Decision view" },
    h("p", { class: "muted" }, "Pick an alert to see the evidence."));
  root.append(h("div", { class: "alerts-layout" }, list, panel));
  current.list = list;
  current.panel = panel;
  async function load() {
    clear(list);
    cards.clear();
    const seconds = PRESETS[since.value];
    const page = await api(`/api/alerts${query({ state: stateFilter.value, camera: cameraFilter.value, limit: 200,
      since: seconds ? new Date(Date.now() - seconds * 1000).toISOString() : "" })}`);
    total.textContent = `${page.total} alert${page.total === 1 ? "" : "s"}`;
    if (!page.items.length) list.append(h("p", { class: "muted", id: "no-alerts" }, "No alerts."));
    for (const item of page.items) {
      current.alerts.set(item.id, item);
      const el = card(item);
      list.append(el);
      cards.set(item.id, el);
    }
    const wanted = Number(arg) || page.items[0]?.id;
    if (wanted) await select(wanted);
  }
  for (const f of [stateFilter, cameraFilter, since]) f.addEventListener("change", load);
  await load();
  if (feed) unsubscribe = feed.on((m) => { document.getElementById("no-alerts")?.remove(); feed.seen(); onMessage(m); });
  onKey = keys;
  document.addEventListener("keydown", onKey);
}

export function leave() {
  if (unsubscribe) unsubscribe();
  if (onKey) document.removeEventListener("keydown", onKey);
  unsubscribe = null;
  onKey = null;
  current = { user: null, list: null, panel: null, selected: null, alerts: new Map(), map: null };
}
