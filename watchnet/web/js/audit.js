// Audit log (auditors, admins): newest entries, chain verification, export.
import { api, query } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

const WORDS = { create: "created", update: "changed", delete: "deleted", enrol: "enrolled", confirm: "confirmed",
  dismiss: "dismissed", close: "closed", failed: "failed", login: "logged in", logout: "logged out", query: "queried",
  start: "started", stop: "stopped", export: "exported" };

function describe(action) {
  // "watchlist.enrol" -> "watchlist: enrolled"; "search" stays "search"
  const parts = action.split(".");
  if (parts.length === 1) return WORDS[action] || action;
  const verb = parts.pop();
  return `${parts.join(" ")}: ${WORDS[verb] || verb}`;
}

export async function enter(root) {
  const result = h("p", { id: "verify-result", "aria-live": "polite" });
  const verify = h("button", { type: "button", id: "verify" }, "Verify chain");
  verify.addEventListener("click", async () => {
    try {
      const r = await api("/api/audit/verify");
      result.className = r.ok ? "ok" : "bad";
      result.textContent = r.ok ? `Chain intact: ${r.rows} entries, head ${r.head_hash.slice(0, 16)}…`
        : `TAMPERED: ${r.problems.map((p) => p.message).join("; ")}`;
    } catch (err) { toast(err.message, true); }
  });
  const action = h("input", { id: "audit-action", placeholder: "e.g. search, login.failed" });
  const table = h("table", { id: "audit-table" });
  async function load() {
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["#", "When", "Who", "What", "On", "Why", "Details"].map((t) => h("th", { scope: "col" }, t)))));
    const rows = await api(`/api/audit${query({ action: action.value, limit: 200 })}`);
    table.append(h("tbody", {}, rows.map((r) => {
      const details = { ...(r.details || {}) };
      const why = details.reason || details.note || "";
      delete details.reason; delete details.note;
      return h("tr", {}, h("td", {}, r.seq), h("td", {}, when(r.at)), h("td", {}, h("strong", {}, r.actor)),
        h("td", { title: r.action }, h("span", { class: "action" }, describe(r.action)), h("div", { class: "muted mono" }, r.action)),
        h("td", {}, r.target), h("td", {}, why),
        h("td", {}, h("dl", { class: "details" }, Object.entries(details).map(([k, v]) => [h("dt", {}, k.replaceAll("_", " ")),
          h("dd", {}, typeof v === "object" && v !== null ? JSON.stringify(v) : String(v))]))));
    })));
  }
  action.addEventListener("change", load);
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Audit log"), verify,
    h("a", { href: "/api/audit/export", download: "" }, "Export (JSON lines)"),
    h("div", {}, h("label", { for: "audit-action" }, "Action"), action)), result, h("div", { class: "table-wrap" }, table));
  await load();
}

export function leave() {}
