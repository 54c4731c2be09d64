// Forensic search: filters + a required reason (audited), results with thumbnails served through
// the authorised API; or search by a person crop (look-alike clothing) and, where the site's identity
// mode keeps face data of passers-by, by a face photo (the API says which: /api/search/capabilities).
import { api } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

const COLOURS = ["", "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige"];

function select(id, options) { return h("select", { id, name: id }, options.map((o) => h("option", { value: o }, o || "any"))); }

function field(label, input) { return h("div", {}, h("label", { for: input.id }, label), input); }

function result(r) {
  return h("article", { class: "result", "data-sighting": r.id },
    r.thumbnail ? h("img", { class: "thumb", src: r.thumbnail, alt: `${r.label} on ${r.camera}`, loading: "lazy" }) : h("div", { class: "thumb" }),
    h("div", {}, h("strong", {}, r.label), ` on ${r.camera}`),
    h("div", { class: "muted" }, when(r.first_seen)),
    r.plate ? h("div", { class: "mono" }, r.plate) : null,
    r.score !== null && r.score !== undefined ? h("div", { class: "muted" }, `${r.match} ${r.score.toFixed(3)}`) : null);
}

export async function enter(root) {
  const [cams, caps] = await Promise.all([api("/api/cameras"), api("/api/search/capabilities")]);
  const reason = h("input", { id: "search-reason", required: true, minlength: 3, placeholder: "case / why (audited)" });
  const camera = select("search-camera", ["", ...cams.map((c) => c.name)]);
  const label = select("search-label", ["", "person", "bicycle", "car", "motorcycle", "bus", "truck"]);
  const upper = select("search-upper", COLOURS);
  const lower = select("search-lower", COLOURS);
  const vehicle = select("search-vehicle", COLOURS);
  const plate = h("input", { id: "search-plate", maxlength: 16 });
  const fuzzy = h("input", { id: "search-fuzzy", type: "checkbox" });
  const since = h("input", { id: "search-since", type: "datetime-local" });
  const until = h("input", { id: "search-until", type: "datetime-local" });
  const photo = h("input", { id: "search-photo", type: "file", accept: "image/jpeg,image/png,image/webp" });
  const mode = select("search-mode", caps.face_photo ? ["face", "like"] : ["like"]);
  const photoNote = caps.face_photo ? null : h("p", { class: "muted", id: "search-photo-note" }, caps.face_photo_note);
  const out = h("div", { class: "results", id: "search-results" });
  const info = h("p", { class: "muted", id: "search-info", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "search-form" },
    h("div", { class: "toolbar" }, field("Reason", reason), field("Camera", camera), field("Class", label),
      field("Upper colour", upper), field("Lower colour", lower), field("Vehicle colour", vehicle),
      field("Plate", plate), h("div", {}, h("label", { for: "search-fuzzy" }, "Fuzzy plate"), fuzzy),
      field("From", since), field("To", until)),
    h("div", { class: "toolbar" }, field(caps.face_photo ? "Or by photo" : "Or by a person crop", photo),
      field("Photo means", mode), h("button", { class: "primary", type: "submit" }, "Search")), photoNote);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(out); info.textContent = "Searching…";
    try {
      let page;
      if (photo.files.length) {
        const data = new FormData();
        data.set("reason", reason.value); data.set("mode", mode.value); data.set("file", photo.files[0]);
        if (label.value) data.set("label", label.value);
        page = await api("/api/search/photo", { method: "POST", form: data });
      } else {
        const body = { reason: reason.value, limit: 100 };
        if (camera.value) body.cameras = [camera.value];
        for (const [key, input] of [["label", label], ["upper_colour", upper], ["lower_colour", lower], ["vehicle_colour", vehicle], ["plate", plate]]) if (input.value) body[key] = input.value;
        if (fuzzy.checked) body.fuzzy = true;
        if (since.value) body.since = new Date(since.value).toISOString();
        if (until.value) body.until = new Date(until.value).toISOString();
        page = await api("/api/search", { method: "POST", body });
      }
      info.textContent = `${page.total ?? page.results.length} found (audit entry ${page.audit_id}). ${page.notes.join(" ")}`;
      out.append(...page.results.map(result));
    } catch (err) { info.textContent = ""; toast(err.message, true); }
  });
  root.append(h("h2", {}, "Search"), form, info, out);
}

export function leave() {}
