// Forensic search: filters + a required reason (audited), results with thumbnails served through
// the authorised API; or search by a person crop (look-alike clothing) and, where the site's identity
// mode keeps face data of passers-by, by a face photo (the API says which: /api/search/capabilities).
import { api } from "./api.js";
import { clear, h, toast, when } from "./dom.js";

const COLOURS = ["", "black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "beige"];

function select(id, options) { return h("select", { id, name: id }, options.map((o) => h("option", { value: o }, o || "any"))); }

function field(label, input) { return h("div", {}, h("label", { for: input.id }, label), input); }

const CSS_COLOURS = { black: "#111", white: "#f4f4f4", grey: "#888", gray: "#888", red: "#d33", orange: "#f80", yellow: "#fd2",
  green: "#2a2", blue: "#36f", purple: "#93c", pink: "#f7a", brown: "#852", beige: "#dcb" };
const PAGE = 48;
const PRESETS = { "": null, "1h": 3600, "24h": 86400, "7d": 7 * 86400 };

function chip(label, colour) {
  if (!colour) return null;
  const sw = h("span", { class: "swatch" });
  sw.style.background = CSS_COLOURS[colour] || "transparent";
  return h("span", { class: "chip", "data-colour": colour }, sw, `${label} ${colour}`);
}

function result(r) {
  const a = r.attributes || {};
  return h("article", { class: "result", "data-sighting": r.id },
    r.thumbnail ? h("img", { class: "thumb", src: r.thumbnail, alt: `${r.label} on ${r.camera}`, loading: "lazy" }) : h("div", { class: "thumb" }),
    h("div", {}, h("strong", {}, r.label), ` on ${r.camera}`),
    h("div", { class: "muted" }, when(r.first_seen)),
    h("div", { class: "chips" }, chip("top", a.upper_colour), chip("bottom", a.lower_colour), r.label !== "person" ? chip("", a.colour) : null),
    r.plate ? h("div", { class: "mono plate" }, r.plate) : null,
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
  const preset = select("search-preset", Object.keys(PRESETS));
  preset.addEventListener("change", () => { if (PRESETS[preset.value]) { since.value = ""; until.value = ""; } });
  const sort = h("select", { id: "search-sort" }, [["new", "newest first"], ["old", "oldest first"], ["camera", "camera"]].map(([v, t]) => h("option", { value: v }, t)));
  const prev = h("button", { type: "button", id: "search-prev", disabled: true }, "‹ previous");
  const next = h("button", { type: "button", id: "search-next", disabled: true }, "next ›");
  let offset = 0;
  let last = [];
  const out = h("div", { class: "results", id: "search-results" });
  const info = h("p", { class: "muted", id: "search-info", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "search-form" },
    h("div", { class: "toolbar" }, field("Reason", reason), field("Camera", camera), field("Class", label),
      field("Upper colour", upper), field("Lower colour", lower), field("Vehicle colour", vehicle),
      field("Plate", plate), h("div", {}, h("label", { for: "search-fuzzy" }, "Fuzzy plate"), fuzzy),
      field("Last", preset), field("From", since), field("To", until), field("Sort", sort)),
    h("div", { class: "toolbar" }, field(caps.face_photo ? "Or by photo" : "Or by a person crop", photo),
      field("Photo means", mode), h("button", { class: "primary", type: "submit" }, "Search")), photoNote);
  function show() {
    const rows = [...last];
    if (sort.value === "old") rows.sort((a, b) => a.first_seen.localeCompare(b.first_seen));
    else if (sort.value === "camera") rows.sort((a, b) => a.camera.localeCompare(b.camera) || b.first_seen.localeCompare(a.first_seen));
    clear(out).append(...rows.map(result));
  }
  sort.addEventListener("change", show);
  prev.addEventListener("click", () => { offset = Math.max(0, offset - PAGE); run(); });
  next.addEventListener("click", () => { offset += PAGE; run(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); offset = 0; run(); });
  async function run() {
    clear(out); info.textContent = "Searching…";
    try {
      let page;
      if (photo.files.length) {
        const data = new FormData();
        data.set("reason", reason.value); data.set("mode", mode.value); data.set("file", photo.files[0]);
        if (label.value) data.set("label", label.value);
        page = await api("/api/search/photo", { method: "POST", form: data });
      } else {
        const body = { reason: reason.value, limit: PAGE, offset };
        if (camera.value) body.cameras = [camera.value];
        for (const [key, input] of [["label", label], ["upper_colour", upper], ["lower_colour", lower], ["vehicle_colour", vehicle], ["plate", plate]]) if (input.value) body[key] = input.value;
        if (fuzzy.checked) body.fuzzy = true;
        if (since.value) body.since = new Date(since.value).toISOString();
        else if (PRESETS[preset.value]) body.since = new Date(Date.now() - PRESETS[preset.value] * 1000).toISOString();
        if (until.value) body.until = new Date(until.value).toISOString();
        page = await api("/api/search", { method: "POST", body });
      }
      const total = page.total ?? page.results.length;
      const span = page.results.length ? ` showing ${offset + 1}–${offset + page.results.length}` : "";
      info.textContent = `${total} found (audit entry ${page.audit_id}).${span} ${page.notes.join(" ")}`;
      last = page.results;
      show();
      prev.disabled = offset === 0;
      next.disabled = page.total === null || page.total === undefined ? page.results.length < PAGE : offset + PAGE >= total;
    } catch (err) { info.textContent = ""; toast(err.message, true); }
  }
  root.append(h("h2", {}, "Search"), form, h("div", { class: "toolbar" }, info, prev, next), out);
}

export function leave() {}
