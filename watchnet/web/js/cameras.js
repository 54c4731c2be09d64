// Cameras (admins): the list with state and error, add / edit / remove, "test connection" before saving
// (the server opens the URL as a camera would), and placing a camera by clicking on the map.
// Saving touches only that camera; the others go on (the server's runner restarts just the one). "Settings"
// opens a camera's editor (camera_settings.js): zones, lines and privacy masks drawn on its frame, fps cap, etc.
import { api } from "./api.js";
import { settingsEditor } from "./camera_settings.js";
import { clear, h, svg, toast } from "./dom.js";
import { background, projector } from "./map.js";

const W = 1000;
const H = 700;

export function unproject(bounds, x, y) {
  const [[south, west], [north, east]] = bounds;
  const merc = (lat) => Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360));
  const top = merc(north), bottom = merc(south);
  const m = top - (y / H) * (top - bottom);
  const lat = (2 * Math.atan(Math.exp(m)) - Math.PI / 2) * (180 / Math.PI);
  return [lat, west + (x / W) * (east - west)];
}

function field(label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: input.id }, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

export async function enter(root) {
  const table = h("table", { id: "camera-table" });
  const name = h("input", { id: "cam-name", required: true, pattern: "[A-Za-z0-9_.\\-]{1,64}", placeholder: "gate-north" });
  const url = h("input", { id: "cam-url", required: true, placeholder: "rtsp://user:pass@host/stream or a file path", size: 48 });
  const lat = h("input", { id: "cam-lat", type: "number", step: "any", min: -90, max: 90 });
  const lon = h("input", { id: "cam-lon", type: "number", step: "any", min: -180, max: 180 });
  const result = h("p", { id: "cam-test-result", "aria-live": "polite", class: "muted" });
  const title = h("h2", { id: "cam-form-title" }, "Add a camera");
  let editing = null;
  const test = h("button", { type: "button", id: "cam-test" }, "Test connection");
  const save = h("button", { type: "submit", class: "primary", id: "cam-save" }, "Save");
  const cancel = h("button", { type: "button", class: "ghost", id: "cam-cancel", hidden: true }, "Cancel edit");
  const form = h("form", { class: "card", id: "cam-form" }, title,
    h("div", { class: "toolbar" }, field("Name", name), field("Stream URL", url), field("Latitude", lat), field("Longitude", lon, "or click on the map")),
    h("div", { class: "actions" }, test, save, cancel), result,
    h("p", { class: "muted" }, "Zones, lines, privacy masks, the fps cap and detection settings: the Settings button of a camera."));
  const settingsBox = h("div", { id: "cam-settings-box" });
  const marker = svg("g", { id: "cam-marker" });
  const mapBox = h("div", { class: "map-wrap small", id: "cam-map-box" });

  function reset() {
    editing = null; form.reset(); name.disabled = false; title.textContent = "Add a camera"; cancel.hidden = true;
    result.textContent = ""; clear(marker);
  }
  cancel.addEventListener("click", reset);

  test.addEventListener("click", async () => {
    if (!url.value) { result.textContent = "Type a stream URL first."; return; }
    result.className = "muted"; result.textContent = "Opening the stream…";
    try {
      const r = await api("/api/cameras/test", { method: "POST", body: { url: url.value } });
      result.className = r.ok ? "ok" : "bad";
      result.textContent = r.ok ? `Connected: ${r.kind}, ${r.width}×${r.height}${r.fps ? ` at ${r.fps} fps` : ""}${r.codec ? `, ${r.codec}` : ""}.` : `Cannot connect: ${r.error}`;
    } catch (err) { result.className = "bad"; result.textContent = err.message; }
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { url: url.value, lat: lat.value === "" ? null : Number(lat.value), lon: lon.value === "" ? null : Number(lon.value) };
    try {
      if (editing) await api(`/api/cameras/${encodeURIComponent(editing)}`, { method: "PUT", body });
      else await api("/api/cameras", { method: "POST", body: { name: name.value, ...body } });
      toast(`Camera ${editing || name.value} saved`);
      reset();
      await load();
    } catch (err) { result.className = "bad"; result.textContent = err.message; }
  });

  async function remove(cam) {
    if (!window.confirm(`Remove camera ${cam.name}?`)) return;
    try {
      await api(`/api/cameras/${encodeURIComponent(cam.name)}`, { method: "DELETE" });
    } catch (err) {
      if (err.status !== 409 || !window.confirm(`${err.message}\n\nDelete the camera and its history?`)) { toast(err.message, true); return; }
      try { await api(`/api/cameras/${encodeURIComponent(cam.name)}?purge=true`, { method: "DELETE" }); } catch (e) { toast(e.message, true); return; }
    }
    toast(`Camera ${cam.name} removed`);
    await load();
  }

  function edit(cam) {
    editing = cam.name; name.value = cam.name; name.disabled = true; url.value = cam.url || "";
    lat.value = cam.lat ?? ""; lon.value = cam.lon ?? ""; title.textContent = `Edit camera ${cam.name}`; cancel.hidden = false;
    result.textContent = "The stream URL shows the password masked: type it again when you change the URL.";
    url.focus();
  }

  function openSettings(cam) {
    const editor = settingsEditor(cam, () => load());
    clear(settingsBox).append(editor);
    editor.scrollIntoView({ block: "start" });
    editor.querySelector("#shape-kind").focus();
  }

  let config = null;
  async function load() {
    const [cams, map] = await Promise.all([api("/api/cameras"), api("/api/map")]);
    config = map;
    clear(table);
    table.append(h("thead", {}, h("tr", {}, ["Camera", "State", "Error", "Stream", "Position", ""].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, cams.map((cam) => h("tr", { "data-camera": cam.name },
        h("td", {}, h("a", { href: `#/live/${encodeURIComponent(cam.name)}` }, cam.name)),
        h("td", {}, h("span", { class: `status ${cam.status.state}` }, cam.status.state)),
        h("td", { class: "bad" }, cam.status.error || ""),
        h("td", { class: "mono" }, cam.url || ""),
        h("td", {}, cam.lat === null || cam.lat === undefined ? "not placed" : `${cam.lat.toFixed(5)}, ${cam.lon.toFixed(5)}`),
        h("td", {}, h("div", { class: "actions" },
          h("button", { type: "button", "data-edit": cam.name, onclick: () => edit(cam) }, "Edit"),
          h("button", { type: "button", "data-settings": cam.name, onclick: () => openSettings(cam) }, "Settings"),
          h("button", { type: "button", class: "danger", "data-remove": cam.name, onclick: () => remove(cam) }, "Remove")))))));
    drawMap();
  }

  function drawMap() {
    clear(mapBox);
    const bounds = config.bounds || [[51.44, -0.945], [51.446, -0.936]];
    const project = projector(bounds);
    const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Click to place the camera", id: "cam-map" });
    background(drawing, { ...config, bounds });
    for (const cam of config.cameras) {
      const [x, y] = project([cam.lat, cam.lon]);
      drawing.append(svg("circle", { cx: x, cy: y, r: 9, fill: "#4ea1ff" }), svg("text", { x: x + 13, y: y + 6, fill: "#e3e8ef", "font-size": 22 }, cam.name));
    }
    drawing.append(marker);
    drawing.addEventListener("click", (event) => {
      const point = drawing.createSVGPoint();
      point.x = event.clientX; point.y = event.clientY;
      const p = point.matrixTransform(drawing.getScreenCTM().inverse());
      const [la, lo] = unproject(bounds, p.x, p.y);
      lat.value = la.toFixed(6); lon.value = lo.toFixed(6);
      clear(marker).append(svg("circle", { cx: p.x, cy: p.y, r: 12, fill: "#f0b429", stroke: "#000", "stroke-width": 2 }));
    });
    mapBox.append(h("p", { class: "muted" }, "Click on the map to set the camera's position."), drawing);
  }

  root.append(h("div", { class: "toolbar" }, h("h2", {}, "Cameras")), h("div", { class: "table-wrap" }, table), settingsBox, h("div", { class: "two cams-edit" }, form, mapBox));
  await load();
}

export function leave() {}
