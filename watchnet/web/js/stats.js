// Statistics: tracks per camera, per class and per hour over the last 24 hours (counts, no people).
import { api } from "./api.js";
import { h } from "./dom.js";

function bars(title, entries) {
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title),
    entries.length ? h("div", { class: "bars" }, entries.map(([name, n]) => {
      const fill = h("div", { class: "fill" });
      fill.style.width = `${(100 * n) / max}%`;
      return h("div", { class: "bar" }, h("span", {}, name), h("div", {}, fill), h("span", {}, String(n)));
    })) : h("p", { class: "muted" }, "Nothing in this window."));
}

export async function enter(root) {
  const s = await api("/api/stats");
  const hours = new Map();
  for (const b of s.hourly) {
    const key = new Date(b.hour).toLocaleString(undefined, { day: "2-digit", hour: "2-digit" });
    hours.set(key, (hours.get(key) || 0) + b.count);
  }
  root.append(h("h2", {}, `Statistics: ${s.total} tracks in the last 24 hours`),
    h("div", { class: "grid" }, bars("Per camera", Object.entries(s.per_camera)), bars("Per class", Object.entries(s.per_class)), bars("Per hour", [...hours])));
}

export function leave() {}
