// Audit log (auditors, admins): newest entries, chain verification, export.
import { api, query } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

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
    table.append(h("thead", {}, h("tr", {}, ["#", "When", "Who", "Action", "Target", "Details"].map((t) => h("th", { scope: "col" }, t)))));
    const rows = await api(`/api/audit${query({ action: action.value, limit: 200 })}`);
    table.append(h("tbody", {}, rows.map((r) => h("tr", {}, h("td", {}, r.seq), h("td", {}, when(r.at)), h("td", {}, r.actor),
      h("td", {}, r.action), h("td", {}, r.target), h("td", { class: "mono" }, JSON.stringify(r.details))))));
  }
  action.addEventListener("change", load);
  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Audit log"), verify,
    h("a", { href: "/api/audit/export", download: "" }, "Export (JSON lines)"),
    h("div", {}, h("label", { for: "audit-action" }, "Action"), action)), result, table);
  await load();
}

export function leave() {}
