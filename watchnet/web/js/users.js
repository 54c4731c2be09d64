// User administration (admins): add users with a role, change roles, disable/enable.
import { api } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

const ROLES = ["operator", "viewer", "auditor", "admin"];

export async function enter(root) {
  const table = h("table", { id: "users-table" });
  async function load() {
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["Name", "Role", "Since", ""].map((t) => h("th", { scope: "col" }, t)))));
    const users = await api("/api/users");
    table.append(h("tbody", {}, users.map((u) => {
      const role = h("select", { "aria-label": `Role of ${u.name}` }, ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
      role.addEventListener("change", async () => { try { await api(`/api/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body: { role: role.value } }); toast("Role changed"); } catch (err) { toast(err.message, true); load(); } });
      const toggle = h("button", { type: "button" }, u.disabled ? "Enable" : "Disable");
      toggle.addEventListener("click", async () => { try { await api(`/api/users/${encodeURIComponent(u.name)}`, { method: "PATCH", body: { disabled: !u.disabled } }); load(); } catch (err) { toast(err.message, true); } });
      return h("tr", {}, h("td", {}, u.name, u.disabled ? h("span", { class: "muted" }, " (disabled)") : null), h("td", {}, role), h("td", {}, when(u.created_at)), h("td", {}, toggle));
    })));
  }
  const form = h("form", { class: "card toolbar", id: "user-form" },
    h("div", {}, h("label", { for: "new-user" }, "Name"), h("input", { id: "new-user", name: "name", required: true })),
    h("div", {}, h("label", { for: "new-password" }, "Password (10+ characters)"), h("input", { id: "new-password", name: "password", type: "password", minlength: 10, required: true, autocomplete: "new-password" })),
    h("div", {}, h("label", { for: "new-role" }, "Role"), h("select", { id: "new-role", name: "role" }, ROLES.map((r) => h("option", { value: r }, r)))),
    h("button", { class: "primary", type: "submit" }, "Add user"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/users", { method: "POST", body: { name: document.getElementById("new-user").value, password: document.getElementById("new-password").value, role: document.getElementById("new-role").value } });
      form.reset(); toast("User added"); load();
    } catch (err) { toast(err.message, true); }
  });
  root.append(h("h2", {}, "Users"), form, table);
  await load();
}

export function leave() {}
