// The console's entry: log in, show the views the role may use, keep the alert feed connected.
import { answer, api, setUnauthorizedHandler } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { AlertFeed } from "./feed.js";
import * as live from "./live.js";
import * as alerts from "./alerts.js";
import * as watchlist from "./watchlist.js";
import * as search from "./search.js";
import * as map from "./map.js";
import * as follow from "./journeys.js";
import * as stats from "./stats.js";
import * as audit from "./audit.js";
import * as users from "./users.js";
import * as cameras from "./cameras.js";
import * as timeline from "./timeline.js";
import { ConnectionMonitor } from "./connection.js";

// Page load: who is logged in and the live wall's cameras were asked for together by boot.js while the
// page was parsed, instead of one after the other once the modules ran.
const early = window.watchnetBoot || {};
const boot = { me: early.me ? answer("/api/auth/me", early.me) : api("/api/auth/me") };
if (early.cameras) live.prefetch(answer("/api/cameras", early.cameras), early.at);

const VIEWS = { live, alerts, watchlist, search, map, follow, stats, audit, users, cameras, timeline };
const state = { user: null, feed: null, current: null };

function allowed(link, role) {
  const roles = link.dataset.roles;
  return !roles || roles.split(" ").includes(role);
}

function showLogin(message = "") {
  state.user = null;
  if (state.feed) { state.feed.close(); state.feed = null; }
  if (state.current?.leave) state.current.leave();
  state.current = null;
  document.getElementById("shell").hidden = true;
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message;
  document.getElementById("login-user").focus();
}

async function showShell(user) {
  state.user = user;
  document.getElementById("login").hidden = true;
  document.getElementById("shell").hidden = false;
  document.getElementById("whoami").textContent = `${user.name} (${user.role})`;
  for (const link of document.querySelectorAll("#nav a")) link.hidden = !allowed(link, user.role);
  let feed = null;
  if (["admin", "operator", "auditor"].includes(user.role)) feed = state.feed = new AlertFeed(user);
  const drawn = route();
  if (feed) {
    // the view draws first; then the feed learns which alerts exist (no beep for old ones) and connects:
    // the list of up to 500 alerts does not compete with the first view's own requests
    afterFirstView(drawn).then(() => feed.preload()).then(() => feed.start());
  }
}

// The first view's requests go first; what the page needs only later waits for them (at most a second).
function afterFirstView(drawn) {
  return Promise.race([drawn, new Promise((resolve) => setTimeout(resolve, 1000))]);
}

function route() {
  if (!state.user) return Promise.resolve();
  let name = (location.hash.replace(/^#\//, "").split("/")[0]) || "live";
  const link = document.querySelector(`#nav a[data-view="${name}"]`);
  if (!VIEWS[name] || !link || link.hidden) name = "live";
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.view === name);
    if (a.dataset.view === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  if (state.current?.leave) state.current.leave();
  // a fresh element per visit: a view still loading from an earlier visit writes into a detached one
  const view = document.createElement("div");
  view.className = "view-body";
  clear(document.getElementById("view")).append(view);
  state.current = VIEWS[name];
  const rest = location.hash.replace(/^#\/[^/]*\/?/, "");
  return state.current.enter(view, { user: state.user, feed: state.feed, arg: decodeURIComponent(rest) }).catch((err) => {
    view.append(h("p", { class: "error", role: "alert" }, err.message));
  });
}

async function login(event) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button");
  button.disabled = true;
  document.getElementById("login-error").textContent = "";
  try {
    AlertFeed.unlockAudio();  // a user gesture: browsers allow the alert beep from now on
    const data = await api("/api/auth/login", { method: "POST", body: { username: form.username.value, password: form.password.value } });
    form.password.value = "";
    await showShell(data.user);
  } catch (err) {
    document.getElementById("login-error").textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* already gone */ }
  showLogin("Logged out.");
}

function toggleSound(event) {
  const on = event.target.getAttribute("aria-pressed") !== "true";
  event.target.setAttribute("aria-pressed", String(on));
  event.target.textContent = on ? "Sound on" : "Sound off";
  AlertFeed.sound = on;
  if (on) AlertFeed.unlockAudio();
}

function toggleMenu() {
  const button = document.getElementById("menu-toggle");
  const open = button.getAttribute("aria-expanded") !== "true";
  button.setAttribute("aria-expanded", String(open));
  document.getElementById("nav").classList.toggle("open", open);
}

function closeMenu() {
  document.getElementById("menu-toggle").setAttribute("aria-expanded", "false");
  document.getElementById("nav").classList.remove("open");
}

async function start() {
  setUnauthorizedHandler(() => { if (state.user) showLogin("Your session ended; log in again."); });
  document.getElementById("login-form").addEventListener("submit", login);
  document.getElementById("logout").addEventListener("click", logout);
  document.getElementById("sound-toggle").addEventListener("click", toggleSound);
  document.getElementById("alert-banner").addEventListener("click", () => { location.hash = "#/alerts"; });
  window.addEventListener("hashchange", () => { closeMenu(); route(); });
  document.getElementById("menu-toggle").addEventListener("click", toggleMenu);
  const monitor = new ConnectionMonitor(document.getElementById("conn-banner"));
  let me = null;
  try { me = await boot.me; } catch { /* not logged in, or the server is away: the monitor says which */ }
  if (me) await showShell(me); else showLogin();
  monitor.start();
}

window.addEventListener("error", (e) => toast(`error: ${e.message}`, true));
start();
