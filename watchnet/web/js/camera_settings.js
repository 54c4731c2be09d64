// One camera's settings editor (admins): zones, lines and privacy masks drawn on the camera's current frame by
// clicking points (or typed as "x,y" pairs, for the keyboard), and the fps cap, detection mode, least object
// size, plate countries, heading and field of view (the map's wedge). Shapes are frame-relative (0..1 of the
// width and height), so they fit any resolution and the scaled-down live picture they are drawn on. Saving
// sends one PATCH; the server validates with the same models as the configuration file and restarts only this
// camera, whose live picture then shows the masks black.
import { api } from "./api.js";
import { clear, h, svg, toast } from "./dom.js";

const KINDS = { mask: "Privacy mask", zone: "Zone", line: "Line" };
const round = (v) => Math.round(v * 10000) / 10000;
const relative = (points) => points.every(([x, y]) => x >= 0 && x <= 1 && y >= 0 && y <= 1);

function shapesOf(settings) {
  const shapes = [];
  for (const points of settings.privacy_masks || []) shapes.push({ kind: "mask", name: "", points });
  for (const z of settings.zones || []) shapes.push({ kind: "zone", name: z.name, points: z.polygon, classes: z.classes });
  for (const l of settings.lines || []) shapes.push({ kind: "line", name: l.name, points: [l.start, l.end], classes: l.classes });
  return shapes;
}

function bodyOf(shapes, fields) {
  const withClasses = (s, extra) => (s.classes ? { ...extra, classes: s.classes } : extra);
  return {
    ...fields,
    privacy_masks: shapes.filter((s) => s.kind === "mask").map((s) => s.points),
    zones: shapes.filter((s) => s.kind === "zone").map((s) => withClasses(s, { name: s.name, polygon: s.points })),
    lines: shapes.filter((s) => s.kind === "line").map((s) => withClasses(s, { name: s.name, start: s.points[0], end: s.points[1] })),
  };
}

export function parsePoints(text) {
  const points = text.trim().split(/\s+/).filter(Boolean).map((pair) => pair.split(",").map(Number));
  if (!points.length || points.some((p) => p.length !== 2 || p.some((v) => !Number.isFinite(v)))) {
    throw new Error('Type points as "x,y" pairs separated by spaces, e.g. "0.1,0.2 0.5,0.2 0.5,0.6".');
  }
  return points;
}

export function settingsEditor(cam, onSaved) {
  const shapes = shapesOf(cam.settings || {});
  let draft = [];
  const s = cam.settings || {};
  const kind = h("select", { id: "shape-kind" }, Object.entries(KINDS).map(([k, label]) => h("option", { value: k }, label)));
  const shapeName = h("input", { id: "shape-name", placeholder: "entrance", size: 12, maxlength: 64 });
  const typed = h("input", { id: "shape-points", placeholder: "0.1,0.2 0.5,0.2 0.5,0.6", size: 26 });
  const hint = h("p", { id: "shape-hint", class: "muted", "aria-live": "polite" });
  const list = h("ul", { id: "shape-list", class: "shape-list" });
  const fps = h("input", { id: "set-fps", type: "number", min: 0, step: "any", value: s.fps_cap ?? "", placeholder: "no cap" });
  const mode = h("select", { id: "set-mode" }, h("option", { value: "" }, "as configured globally"),
    ["auto", "whole", "tiles", "motion", "focus"].map((m) => h("option", { value: m, selected: s.detect_mode === m }, m)));
  const minPx = h("input", { id: "set-minpx", type: "number", min: 0, step: 1, value: s.min_object_px ?? "", placeholder: "global" });
  const plates = h("input", { id: "set-plates", value: (s.plate_countries || []).join(", "), placeholder: "global, e.g. eu, cn", size: 14 });
  const heading = h("input", { id: "set-heading", type: "number", min: 0, max: 359.9, step: "any", value: s.heading ?? "", placeholder: "unknown" });
  const fov = h("input", { id: "set-fov", type: "number", min: 1, max: 360, step: "any", value: s.fov ?? "", placeholder: "unknown" });
  const result = h("p", { id: "set-result", "aria-live": "polite", class: "muted" });
  const picture = h("img", { id: "set-frame", alt: `Current frame of ${cam.name}`, src: `/api/cameras/${encodeURIComponent(cam.name)}/snapshot.jpg?t=${Date.now()}` });
  const overlay = svg("svg", { id: "set-overlay", viewBox: "0 0 1 1", preserveAspectRatio: "none", role: "img",
    "aria-label": "Click to add points to the shape being drawn" });
  const stage = h("div", { class: "frame-stage" }, picture, overlay);
  const snapshot = () => `/api/cameras/${encodeURIComponent(cam.name)}/snapshot.jpg?t=${Date.now()}`;
  picture.addEventListener("error", () => { // not running yet, or restarting: try again while the editor is open
    stage.classList.add("empty"); hint.textContent = "No picture from this camera yet: shapes can still be drawn or typed.";
    setTimeout(() => { if (picture.isConnected) picture.src = snapshot(); }, 2000);
  });
  picture.addEventListener("load", () => { if (stage.classList.contains("empty")) { stage.classList.remove("empty"); hint.textContent = ""; } });

  function nextName(k) {
    const taken = new Set(shapes.filter((x) => x.kind === k).map((x) => x.name));
    let i = 1;
    while (taken.has(`${k} ${i}`)) i += 1;
    return `${k} ${i}`;
  }

  function add(points) {
    const k = kind.value;
    const need = k === "line" ? 2 : 3;
    if (points.length < need || (k === "line" && points.length !== 2)) {
      hint.textContent = k === "line" ? "A line needs exactly 2 points." : `A ${KINDS[k].toLowerCase()} needs at least 3 points.`;
      return false;
    }
    if (!relative(points)) { hint.textContent = "Points are fractions of the frame: x and y between 0 and 1."; return false; }
    const name = k === "mask" ? "" : (shapeName.value.trim() || nextName(k));
    shapes.push({ kind: k, name, points: points.map(([x, y]) => [round(x), round(y)]), classes: k === "mask" ? undefined : ["person"] });
    draft = []; shapeName.value = ""; hint.textContent = `${KINDS[k]} added; save to apply it.`;
    render();
    return true;
  }

  function render() {
    clear(overlay);
    shapes.forEach((shape, i) => {
      if (!relative(shape.points)) return; // pixel shapes from the configuration file: listed, not drawn
      const pts = shape.points.map((p) => p.join(",")).join(" ");
      const cls = `shape ${shape.kind}`;
      overlay.append(shape.kind === "line"
        ? svg("polyline", { points: pts, class: cls, "data-shape": i })
        : svg("polygon", { points: pts, class: cls, "data-shape": i }));
    });
    if (draft.length) {
      overlay.append(svg("polyline", { points: draft.map((p) => p.join(",")).join(" "), class: `shape draft ${kind.value}` }));
      for (const [x, y] of draft) overlay.append(svg("circle", { cx: x, cy: y, r: 0.008, class: "draft-point" }));
    }
    clear(list);
    if (!shapes.length) list.append(h("li", { class: "muted" }, "No zones, lines or privacy masks."));
    shapes.forEach((shape, i) => {
      const label = `${KINDS[shape.kind]}${shape.name ? ` “${shape.name}”` : ""}, ${shape.points.length} points${relative(shape.points) ? "" : " (pixels, from the configuration)"}`;
      list.append(h("li", { "data-kind": shape.kind }, h("span", {}, label),
        h("button", { type: "button", class: "danger small", "data-delete-shape": i, "aria-label": `Delete ${label}`,
          onclick: () => { shapes.splice(i, 1); hint.textContent = `${KINDS[shape.kind]} deleted; save to apply.`; render(); } }, "Delete")));
    });
  }

  overlay.addEventListener("click", (event) => {
    const box = overlay.getBoundingClientRect();
    const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
    draft.push([round(x), round(y)]);
    if (kind.value === "line" && draft.length === 2) { add(draft); return; }
    hint.textContent = `${draft.length} point${draft.length === 1 ? "" : "s"}: ${kind.value === "line" ? "click the line's end" : "click more, then Finish shape"}.`;
    render();
  });
  kind.addEventListener("change", () => { draft = []; hint.textContent = ""; render(); });

  const finish = h("button", { type: "button", id: "shape-finish", onclick: () => add(draft) }, "Finish shape");
  const undo = h("button", { type: "button", id: "shape-undo", class: "ghost", onclick: () => { draft.pop(); render(); } }, "Undo point");
  const addTyped = h("button", { type: "button", id: "shape-add-typed", onclick: () => {
    try { if (add(parsePoints(typed.value))) typed.value = ""; } catch (err) { hint.textContent = err.message; }
  } }, "Add typed shape");

  const field = (label, input, small) => h("div", { class: "field" }, h("label", { for: input.id }, label), input, small ? h("small", { class: "muted" }, small) : null);
  const save = h("button", { type: "submit", class: "primary", id: "set-save" }, "Save settings");
  const close = h("button", { type: "button", class: "ghost", id: "set-close" }, "Close");
  const form = h("form", { class: "card settings-editor", id: "cam-settings", "data-camera": cam.name },
    h("h2", {}, `Settings of camera ${cam.name}`),
    h("p", { class: "muted" }, "Privacy masks are blacked out before anything looks at the picture: nothing in them is detected, stored, shown or exported."),
    stage,
    h("div", { class: "toolbar" }, field("Draw", kind), field("Name", shapeName, "zones and lines"), h("div", { class: "actions" }, finish, undo)),
    h("div", { class: "toolbar" }, field("Or type points (x,y from 0 to 1)", typed), h("div", { class: "actions" }, addTyped)),
    hint, list,
    h("div", { class: "toolbar" }, field("FPS cap", fps), field("Detection", mode), field("Least object height (px)", minPx),
      field("Plate countries", plates, "codes, comma separated"), field("Heading (°)", heading, "on the map, from north"), field("Field of view (°)", fov)),
    h("div", { class: "actions" }, save, close), result);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const codes = plates.value.split(",").map((c) => c.trim()).filter(Boolean);
    const body = bodyOf(shapes, {
      fps_cap: fps.value === "" ? null : Number(fps.value),
      detect_mode: mode.value || null,
      min_object_px: minPx.value === "" ? null : Number(minPx.value),
      plate_countries: codes.length ? codes : null,
      heading: heading.value === "" ? null : Number(heading.value),
      fov: fov.value === "" ? null : Number(fov.value),
    });
    result.className = "muted"; result.textContent = "Saving…";
    try {
      const saved = await api(`/api/cameras/${encodeURIComponent(cam.name)}/settings`, { method: "PATCH", body });
      result.className = "ok"; result.textContent = "Saved: the camera restarts with these settings.";
      toast(`Settings of ${cam.name} saved`);
      setTimeout(() => { picture.src = snapshot(); }, 2500);
      if (onSaved) onSaved(saved);
    } catch (err) { result.className = "bad"; result.textContent = err.message; }
  });
  close.addEventListener("click", () => form.remove());
  render();
  return form;
}
