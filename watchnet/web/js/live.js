// Live grid: one tile per camera with its stream and a status badge (state, fps, last error).
// Up to MJPEG_MAX cameras stream as MJPEG; beyond that tiles refresh snapshots, because a browser
// keeps only six connections per server and each MJPEG stream holds one open.
import { api } from "./api.js";
import { h } from "./dom.js";

const MJPEG_MAX = 4;
const SNAPSHOT_MS = 1000;
const STATUS_MS = 3000;
let timers = [];
let images = [];

function statusBadge(status) {
  return h("span", { class: `status ${status.state}`, title: status.error || "" }, status.state);
}

function tile(cam, index, focused) {
  const mjpeg = focused || index < MJPEG_MAX;
  const base = `/api/cameras/${encodeURIComponent(cam.name)}`;
  const img = h("img", { alt: `Live view of camera ${cam.name}`, "data-camera": cam.name });
  img.addEventListener("error", () => { img.alt = `No picture from camera ${cam.name} yet`; });
  if (mjpeg) img.src = `${base}/live.mjpeg`;
  else img.src = `${base}/snapshot.jpg?t=${Date.now()}`;
  images.push({ img, base, mjpeg });
  const foot = h("footer", { "data-status-of": cam.name }, describe(cam.status));
  return h("article", { class: "cam", "aria-label": `Camera ${cam.name}` },
    h("header", {}, h("a", { href: `#/live/${encodeURIComponent(cam.name)}` }, cam.name), statusBadge(cam.status)),
    img, foot);
}

function describe(status) {
  const parts = [`${status.fps.toFixed(1)} fps`, `${status.frames} frames`, `${status.tracks} tracks`];
  if (status.last_frame_age_s !== null && status.last_frame_age_s !== undefined) parts.push(`last frame ${status.last_frame_age_s.toFixed(1)} s ago`);
  if (status.error) parts.push(`error: ${status.error}`);
  return parts.join(" · ");
}

async function refreshStatus(root) {
  try {
    const cams = await api("/api/cameras");
    for (const cam of cams) {
      const foot = root.querySelector(`[data-status-of="${CSS.escape(cam.name)}"]`);
      if (!foot) continue;
      foot.textContent = describe(cam.status);
      foot.parentElement.querySelector(".status").replaceWith(statusBadge(cam.status));
    }
  } catch { /* the next round tries again */ }
}

export async function enter(root, { user, arg }) {
  const cams = await api("/api/cameras");
  const focused = arg ? cams.filter((c) => c.name === arg) : cams;
  root.append(h("div", { class: "toolbar" },
    h("h2", {}, arg ? `Camera ${arg}` : "Live"),
    arg ? h("a", { href: "#/live" }, "all cameras") : null,
    user.role === "viewer" || user.role === "auditor" ? h("span", { class: "muted" }, "Faces of people not on the watchlist are blurred.") : null));
  if (!cams.length) {
    root.append(h("p", { class: "muted" }, "No cameras yet. An admin adds them in the configuration or through the API."));
    return;
  }
  root.append(h("div", { class: "grid", id: "live-grid" }, focused.map((cam, i) => tile(cam, i, Boolean(arg)))));
  timers.push(setInterval(() => refreshStatus(root), STATUS_MS));
  timers.push(setInterval(() => {
    for (const { img, base, mjpeg } of images) if (!mjpeg) img.src = `${base}/snapshot.jpg?t=${Date.now()}`;
  }, SNAPSHOT_MS));
}

export function leave() {
  for (const t of timers) clearInterval(t);
  for (const { img } of images) img.removeAttribute("src");  // closes the MJPEG connections
  timers = [];
  images = [];
}
