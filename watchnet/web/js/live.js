// Live wall: layouts 1, 2x2, 3x3, 4x4 or auto (remembered per user in localStorage), a page of tiles at a
// time, double-click a tile for full screen, a state badge per tile with the camera's error written out.
// Up to MJPEG_MAX tiles stream as MJPEG (running cameras first); the rest refresh snapshots, because a
// browser keeps only six connections per server and each MJPEG stream holds one open. Broken streams
// retry with back-off, and every stream restarts when the server answers again after a restart (app.js
// announces it).
// Page load: every tile asks for one snapshot first (a short request) and a streaming tile opens its
// stream only once that first picture is shown, so open streams never hold the connections the page's
// other first requests and pictures need. A camera that has delivered no frame yet (connecting, failed,
// unreachable: the camera list says so) gets no picture request at all: its tile shows the state and the
// error, and asks for a picture once a status round reports a frame. The camera list may come from
// app.js's early request.
import { api } from "./api.js";
import { h } from "./dom.js";

const MJPEG_MAX = 4;
const SNAPSHOT_MS = 1000;
const STATUS_MS = 3000;
export const LAYOUTS = { "1": 1, "2x2": 4, "3x3": 9, "4x4": 16, auto: 0 };
const STATE_TEXT = {
  connecting: "connecting", running: "running", reconnecting: "reconnecting", unreachable: "unreachable",
  ended: "ended", stopped: "stopped", failed: "failed", offline: "offline", starting: "connecting", restarting: "restarting",
};
const PREFETCH_FRESH_MS = 5000;
let prefetched = null;
let timers = [];
let tiles = [];
let onBack = null;
let onKey = null;

/** The camera list asked for early (boot.js, while the session is checked); enter() takes it if still fresh. */
export function prefetch(pending, at) {
  prefetched = { at, cams: pending.catch(() => null) };
}

async function cameraList() {
  const early = prefetched;
  prefetched = null;
  const cams = early && performance.now() - early.at < PREFETCH_FRESH_MS ? await early.cams : null;
  return cams || api("/api/cameras");
}

export function layoutKey(user) { return `watchnet.layout.${user.name}`; }
export function savedLayout(user) {
  const value = localStorage.getItem(layoutKey(user));
  return value && value in LAYOUTS ? value : "auto";
}

function columns(layout, count) {
  if (layout === "auto") return Math.max(1, Math.ceil(Math.sqrt(Math.min(count, 16))));
  return Math.sqrt(LAYOUTS[layout]);
}

function badge(status) {
  const state = String(status.state || "offline");
  return h("span", { class: `status ${state}`, "data-state": state, title: status.error || "" }, STATE_TEXT[state] || state);
}

function describe(status) {
  const parts = [`${status.fps.toFixed(1)} fps`, `${status.frames} frames`, `${status.tracks} tracks`];
  if (status.reconnects) parts.push(`${status.reconnects} reconnects`);
  if (status.last_frame_age_s !== null && status.last_frame_age_s !== undefined) parts.push(`last frame ${status.last_frame_age_s.toFixed(1)} s ago`);
  return parts.join(" · ");
}

// Page-load marks on the browser's own clock (ms since navigation start; bench/console.py reads them): the
// first frame painted with every tile built, and the first frame after every tile has its first picture
// or knows it has none.
function markOnce(name) {
  if (performance.getEntriesByName(name).length) return;
  requestAnimationFrame(() => { if (!performance.getEntriesByName(name).length) performance.mark(name); });
}

function pictureSettled() {
  if (tiles.length && tiles.every((t) => t.el.dataset.picture)) markOnce("watchnet:live-pictures");
}

// The camera list says whether there is a picture to ask for: a frame's age, or a camera that runs.
function hasFrame(status) {
  return status.state === "running" || (status.last_frame_age_s !== null && status.last_frame_age_s !== undefined);
}

class Tile {
  constructor(cam, mjpeg) {
    this.name = cam.name;
    this.base = `/api/cameras/${encodeURIComponent(cam.name)}`;
    this.mjpeg = mjpeg;
    this.framed = hasFrame(cam.status);
    this.streaming = false;  // a streaming tile shows a snapshot first, then opens its stream
    this.delay = 1000;
    this.retry = null;
    this.img = h("img", { alt: `Live view of camera ${cam.name}`, "data-camera": cam.name });
    this.img.addEventListener("error", () => this.failed());
    this.img.addEventListener("load", () => {
      this.delay = 1000;
      this.el.classList.remove("no-picture");
      this.el.dataset.picture = "shown";
      pictureSettled();
      if (this.mjpeg && !this.streaming && this.img.isConnected) { this.streaming = true; this.img.src = this.url(); }
    });
    this.badge = badge(cam.status);
    this.error = h("p", { class: "tile-error", "data-error-of": cam.name, role: "status" }, cam.status.error || "");
    this.foot = h("footer", { "data-status-of": cam.name }, describe(cam.status));
    this.el = h("article", { class: "cam", tabindex: 0, "data-tile": cam.name, "aria-label": `Camera ${cam.name}`, title: "Double-click: full screen" },
      h("header", {}, h("a", { href: `#/live/${encodeURIComponent(cam.name)}`, class: "cam-name" }, cam.name), this.badge),
      h("div", { class: "frame" }, this.img, this.error), this.foot);
    this.el.addEventListener("dblclick", () => this.toggleFull());
    this.el.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target === this.el) this.toggleFull(); });
    this.start();
  }

  url() { return this.streaming ? `${this.base}/live.mjpeg?t=${Date.now()}` : `${this.base}/snapshot.jpg?t=${Date.now()}`; }
  start() {
    clearTimeout(this.retry);
    this.retry = null;
    this.streaming = false;
    if (this.framed) { this.img.src = this.url(); return; }
    this.img.removeAttribute("src");  // nothing to show yet: update() starts the picture once there is a frame
    this.el.classList.add("no-picture");
    if (!this.el.dataset.picture) { this.el.dataset.picture = "none"; pictureSettled(); }
  }

  failed() {
    // no picture yet (camera connecting) or the server is gone: try again later, waiting longer each time
    this.el.classList.add("no-picture");
    if (!this.el.dataset.picture) { this.el.dataset.picture = "none"; pictureSettled(); }
    if (this.retry || !this.img.getAttribute("src")) return;
    this.retry = setTimeout(() => { this.retry = null; if (this.img.isConnected) this.start(); }, this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
  }

  refresh() { if (!this.mjpeg && !this.retry) this.img.src = this.url(); }  // a streaming tile retries in failed()

  update(status) {
    if (!this.framed && hasFrame(status)) { this.framed = true; this.start(); }
    const fresh = badge(status);
    this.badge.replaceWith(fresh);
    this.badge = fresh;
    this.error.textContent = status.error || "";
    this.foot.textContent = describe(status);
    this.el.dataset.state = status.state;
  }

  toggleFull() {
    const on = !this.el.classList.contains("fullscreen");
    for (const t of tiles) t.el.classList.remove("fullscreen");
    this.el.classList.toggle("fullscreen", on);
    if (on && this.el.requestFullscreen) this.el.requestFullscreen().catch(() => { /* the CSS class is enough */ });
    else if (!on && document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }

  stop() { clearTimeout(this.retry); this.img.removeAttribute("src"); }  // closes the MJPEG connection
}

async function refreshStatus() {
  try {
    const cams = await cameraList();
    for (const cam of cams) tiles.find((t) => t.name === cam.name)?.update(cam.status);
  } catch { /* app.js shows the banner; the next round tries again */ }
}

export async function enter(root, { user, arg }) {
  const cams = await cameraList();
  if (!root.isConnected) return;  // the user moved on while this loaded: start no streams
  let layout = arg ? "1" : savedLayout(user);
  let page = 0;
  const focused = arg ? cams.filter((c) => c.name === arg) : cams;
  const grid = h("div", { class: "grid live-grid", id: "live-grid" });
  const pager = h("span", { class: "muted", id: "live-page" });
  const buttons = Object.keys(LAYOUTS).map((name) => h("button", {
    type: "button", class: "ghost", "data-layout": name, "aria-pressed": String(name === layout),
    title: name === "auto" ? "As many tiles as cameras" : `${LAYOUTS[name]} per page`,
    onclick: () => { layout = name; page = 0; if (!arg) localStorage.setItem(layoutKey(user), name); draw(); },
  }, name));
  const prev = h("button", { type: "button", class: "ghost", id: "live-prev", onclick: () => { page -= 1; draw(); } }, "‹ prev");
  const next = h("button", { type: "button", class: "ghost", id: "live-next", onclick: () => { page += 1; draw(); } }, "next ›");
  root.append(h("div", { class: "toolbar" },
    h("h2", {}, arg ? `Camera ${arg}` : "Live"),
    arg ? h("a", { href: "#/live" }, "all cameras") : h("div", { class: "segmented", role: "group", "aria-label": "Layout" }, buttons),
    arg ? null : h("span", { class: "pager" }, prev, pager, next),
    user.role === "viewer" || user.role === "auditor" ? h("span", { class: "muted" }, "Every face is blurred for your role.") : null));
  if (!cams.length) {
    root.append(h("p", { class: "muted" }, "No cameras yet. An admin adds them under Cameras."));
    return;
  }
  root.append(grid);

  function draw() {
    for (const t of tiles) t.stop();
    tiles = [];
    const per = layout === "auto" ? Math.max(focused.length, 1) : LAYOUTS[layout];
    const pages = Math.max(1, Math.ceil(focused.length / per));
    page = Math.min(Math.max(page, 0), pages - 1);
    const shown = focused.slice(page * per, page * per + per);
    const cols = layout === "auto" ? columns("auto", shown.length) : columns(layout, shown.length);
    grid.style.setProperty("--cols", String(cols));
    grid.dataset.layout = layout;
    // the streams go to the cameras that deliver pictures now, then to the others in order
    const ranked = [...shown.filter((c) => c.status.state === "running"), ...shown.filter((c) => c.status.state !== "running")];
    const streamed = new Set(ranked.slice(0, MJPEG_MAX).map((c) => c.name));
    tiles = shown.map((cam) => new Tile(cam, Boolean(arg) || streamed.has(cam.name)));
    grid.replaceChildren(...tiles.map((t) => t.el));
    markOnce("watchnet:live-tiles");
    pictureSettled();
    for (const b of buttons) b.setAttribute("aria-pressed", String(b.dataset.layout === layout));
    pager.textContent = pages > 1 ? `page ${page + 1} of ${pages}` : "";
    prev.hidden = next.hidden = pages <= 1;
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  draw();
  timers.push(setInterval(refreshStatus, STATUS_MS));
  timers.push(setInterval(() => { for (const t of tiles) t.refresh(); }, SNAPSHOT_MS));
  onBack = () => { for (const t of tiles) { t.delay = 1000; t.start(); } refreshStatus(); };
  window.addEventListener("watchnet:reconnected", onBack);
  onKey = (e) => {
    if (e.key === "Escape") for (const t of tiles) t.el.classList.remove("fullscreen");
  };
  document.addEventListener("keydown", onKey);
}

export function leave() {
  for (const t of timers) clearInterval(t);
  for (const t of tiles) t.stop();
  if (onBack) window.removeEventListener("watchnet:reconnected", onBack);
  if (onKey) document.removeEventListener("keydown", onKey);
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  timers = [];
  tiles = [];
  onBack = onKey = null;
}
