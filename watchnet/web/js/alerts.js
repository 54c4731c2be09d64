// Alert feed: newest first, new ones flash and beep; the two-person confirm flow ("1 of 2"), dismiss
// (optionally as a negative example), close. Decisions by anyone update every open dashboard live.
import { api, query } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

let unsubscribe = null;
const cards = new Map();

function canDecide(user) { return user.role === "admin" || user.role === "operator"; }

function card(alert, user, fresh = false) {
  const confirmedByMe = (alert.decisions || []).some((d) => d.action === "confirm" && d.actor === user.name);
  const el = h("article", { class: `alert-card ${alert.state}${fresh ? " fresh" : ""}`, "data-alert": alert.id, "aria-label": `Alert ${alert.id}: ${alert.subject_name}` },
    alert.crop ? h("img", { src: alert.crop, alt: `Face that matched ${alert.subject_name}` }) : h("div", { class: "thumb" }),
    h("div", {},
      h("div", { class: "title" }, alert.subject_name, " ", h("span", { class: "muted" }, `on ${alert.camera}`)),
      h("div", { class: "muted" }, `${when(alert.at)} · score ${alert.score.toFixed(3)} · track #${alert.track_id} · `,
        h("span", { "data-state": alert.state }, alert.state)),
      alert.state === "new" ? h("div", { class: "confirmations", "data-confirmations": alert.id },
        `${alert.confirmations} of ${alert.confirmations_needed} confirmations`) : null,
      (alert.decisions || []).length ? h("div", { class: "muted" }, alert.decisions.map((d) => `${d.action} by ${d.actor}`).join(", ")) : null,
      canDecide(user) ? actions(alert, confirmedByMe) : null));
  return el;
}

function actions(alert, confirmedByMe) {
  const box = h("div", { class: "actions" });
  if (alert.state === "new") {
    box.append(h("button", { class: "primary", type: "button", disabled: confirmedByMe, title: confirmedByMe ? "A second, different user must confirm" : "",
      onclick: () => decide(alert.id, "confirm") }, confirmedByMe ? "Confirmed by you" : "Confirm"));
  }
  if (alert.state === "new" || alert.state === "confirmed") {
    const negative = h("input", { type: "checkbox", id: `neg-${alert.id}` });
    box.append(h("button", { class: "danger", type: "button", onclick: () => decide(alert.id, "dismiss", { negative: negative.checked }) }, "Dismiss"),
      h("label", { for: `neg-${alert.id}`, class: "muted" }, negative, " add as negative example"));
  }
  if (alert.state === "confirmed") box.append(h("button", { type: "button", onclick: () => decide(alert.id, "close") }, "Close"));
  return box;
}

let current = { user: null, list: null };

async function decide(id, action, body = {}) {
  try {
    const alert = await api(`/api/alerts/${id}/${action}`, { method: "POST", body });
    replace(alert);
    toast(`Alert ${id}: ${action} recorded`);
  } catch (err) { toast(err.message, true); }
}

function replace(alert, fresh = false) {
  const el = card(alert, current.user, fresh);
  const old = cards.get(alert.id);
  if (old && old.isConnected) old.replaceWith(el);
  else if (current.list) current.list.prepend(el);
  cards.set(alert.id, el);
}

async function onMessage(message) {
  if (message.type !== "alert" || !current.list) return;
  const id = message.alert.id;
  if (!id) return;
  try { replace(await api(`/api/alerts/${id}`), !cards.has(id)); } catch { /* gone */ }
}

export async function enter(root, { user, feed }) {
  current = { user, list: null };
  cards.clear();
  if (feed) feed.seen();
  const stateFilter = h("select", { id: "alert-state" }, ["", "new", "confirmed", "closed", "dismissed"].map((s) => h("option", { value: s }, s || "any")));
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Alerts"),
    h("div", {}, h("label", { for: "alert-state" }, "State"), stateFilter)));
  const list = h("div", { class: "list", id: "alert-list" });
  root.append(list);
  current.list = list;
  async function load() {
    clear(list);
    cards.clear();
    const page = await api(`/api/alerts${query({ state: stateFilter.value, limit: 100 })}`);
    if (!page.items.length) list.append(h("p", { class: "muted", id: "no-alerts" }, "No alerts."));
    for (const item of page.items) {
      const full = await api(`/api/alerts/${item.id}`);
      const el = card(full, user);
      list.append(el);
      cards.set(full.id, el);
    }
  }
  stateFilter.addEventListener("change", load);
  await load();
  if (feed) unsubscribe = feed.on((m) => { document.getElementById("no-alerts")?.remove(); feed.seen(); onMessage(m); });
}

export function leave() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  current = { user: null, list: null };
}
