// Watchlist: enrol a subject from a photo (the server checks the file and needs exactly one clear
// face), list subjects with their reference faces, deactivate/remove, add photos or negative examples,
// and open a subject's timeline (where they were seen, from their alerts).
import { api, query } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

function enrolForm(onDone) {
  const form = h("form", { class: "card", id: "enrol-form", "aria-labelledby": "enrol-title" },
    h("h2", { id: "enrol-title" }, "Enrol a subject"),
    h("label", { for: "enrol-name" }, "Name"), h("input", { id: "enrol-name", name: "name", required: true, maxlength: 200 }),
    h("label", { for: "enrol-reason" }, "Reason (recorded in the audit log)"), h("input", { id: "enrol-reason", name: "reason", required: true, minlength: 3 }),
    h("label", { for: "enrol-case" }, "Case reference"), h("input", { id: "enrol-case", name: "case_ref" }),
    h("label", { for: "enrol-expires" }, "Expires"), h("input", { id: "enrol-expires", name: "expires_at", type: "datetime-local" }),
    h("label", { for: "enrol-photo" }, "Photo (JPEG, PNG or WebP, one clear face)"),
    h("input", { id: "enrol-photo", name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp", required: true }),
    h("p", { class: "error", id: "enrol-error", role: "alert" }),
    h("button", { class: "primary", type: "submit" }, "Enrol"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    if (!data.get("expires_at")) data.delete("expires_at");
    else data.set("expires_at", new Date(data.get("expires_at")).toISOString());
    if (!data.get("case_ref")) data.delete("case_ref");
    const button = form.querySelector("button");
    button.disabled = true;
    form.querySelector("#enrol-error").textContent = "";
    try {
      const subject = await api("/api/watchlist/subjects", { method: "POST", form: data });
      toast(`Enrolled ${subject.name}`);
      form.reset();
      onDone();
    } catch (err) {
      form.querySelector("#enrol-error").textContent = err.message;
    } finally { button.disabled = false; }
  });
  return form;
}

function subjectRow(s, reload) {
  const photoInput = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp", class: "hidden-label", id: `photo-${s.id}` });
  const negInput = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp", class: "hidden-label", id: `neg-photo-${s.id}` });
  async function upload(input, path, what) {
    if (!input.files.length) return;
    const data = new FormData();
    data.set("photo", input.files[0]);
    try { await api(path, { method: "POST", form: data }); toast(`${what} added`); reload(); } catch (err) { toast(err.message, true); }
    input.value = "";
  }
  photoInput.addEventListener("change", () => upload(photoInput, `/api/watchlist/subjects/${s.id}/photos`, "Photo"));
  negInput.addEventListener("change", () => upload(negInput, `/api/watchlist/subjects/${s.id}/negatives`, "Negative example"));
  return h("tr", { "data-subject": s.id },
    h("td", {}, s.photos.map((p) => h("img", { class: "thumb", src: p.url, alt: `Reference face of ${s.name}` }))),
    h("td", {}, h("strong", {}, s.name), h("div", { class: "muted" }, s.reason), s.case_ref ? h("div", { class: "muted" }, `case ${s.case_ref}`) : null),
    h("td", {}, s.active ? (s.expired ? "expired" : "active") : "inactive", s.expires_at ? h("div", { class: "muted" }, `until ${when(s.expires_at)}`) : null),
    h("td", {}, `${s.photos.length} photo(s), ${s.negatives} negative(s)`, h("div", { class: "muted" }, `by ${s.enrolled_by}`)),
    h("td", {}, h("div", { class: "actions" },
      h("a", { href: `#/watchlist/${s.id}` }, "Timeline"),
      h("a", { href: `#/map/${s.id}` }, "Map"),
      h("label", { for: `photo-${s.id}`, class: "muted" }, "+ photo", photoInput),
      h("label", { for: `neg-photo-${s.id}`, class: "muted" }, "+ negative", negInput),
      h("button", { type: "button", onclick: async () => {
        try { await api(`/api/watchlist/subjects/${s.id}`, { method: "PATCH", body: { active: !s.active } }); reload(); } catch (err) { toast(err.message, true); }
      } }, s.active ? "Deactivate" : "Activate"),
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Remove ${s.name} and their photos from the watchlist? Past alerts keep the name.`)) return;
        try { await api(`/api/watchlist/subjects/${s.id}`, { method: "DELETE" }); reload(); } catch (err) { toast(err.message, true); }
      } }, "Remove"))));
}

async function timeline(root, id) {
  const subject = await api(`/api/watchlist/subjects/${id}`);
  root.append(h("div", { class: "toolbar" }, h("h2", {}, `Timeline: ${subject.name}`), h("a", { href: "#/watchlist" }, "back to the watchlist"), h("a", { href: `#/map/${id}` }, "show on the map")));
  const reason = h("input", { id: "timeline-reason", required: true, minlength: 3, placeholder: "why you look (audited)" });
  const out = h("ol", { class: "timeline", id: "timeline" });
  const form = h("form", { class: "toolbar" }, h("div", {}, h("label", { for: "timeline-reason" }, "Reason"), reason), h("button", { type: "submit" }, "Show"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out);
    try {
      const page = await api(`/api/search/subject/${id}${query({ reason: reason.value })}`);
      for (const note of page.notes) out.append(h("li", { class: "muted" }, note));
      const items = [...page.results].sort((a, b) => a.first_seen.localeCompare(b.first_seen));
      if (!items.length) out.append(h("li", { class: "muted" }, "Not seen in this window."));
      for (const r of items) out.append(h("li", {}, `${when(r.first_seen)} — camera ${r.camera} (${r.match}${r.score ? `, ${r.score.toFixed(3)}` : ""})`));
    } catch (err) { toast(err.message, true); }
  });
  root.append(form, out);
}

export async function enter(root, { arg }) {
  if (arg) return timeline(root, arg);
  const table = h("table", { id: "subjects" });
  async function reload() {
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["Faces", "Subject", "Status", "Evidence", "Actions"].map((t) => h("th", { scope: "col" }, t)))));
    const subjects = await api("/api/watchlist/subjects");
    const body = h("tbody", {}, subjects.map((s) => subjectRow(s, reload)));
    table.append(body);
    if (!subjects.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "Nobody is enrolled.")));
  }
  root.append(h("div", { class: "two" }, enrolForm(reload), h("section", { class: "card", "aria-label": "Subjects" }, h("h2", {}, "Subjects"), table)));
  await reload();
}

export function leave() {}
