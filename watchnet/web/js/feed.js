// The live alert feed: one WebSocket for the whole console, reconnecting with back-off.
// A new alert beeps (WebAudio, no audio file), raises the banner, bumps the badge and tells listeners.
import { h } from "./dom.js";

let audio = null;

export class AlertFeed {
  static sound = true;

  static unlockAudio() {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
    } catch { audio = null; }
  }

  static beep() {
    if (!AlertFeed.sound || !audio) return;
    const now = audio.currentTime;
    for (const [i, freq] of [880, 660, 880].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.25, now + i * 0.18 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.18 + 0.16);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.18);
      osc.stop(now + i * 0.18 + 0.17);
    }
    window.watchnetBeeps = (window.watchnetBeeps || 0) + 1;  // lets tests see that it sounded
  }

  constructor(user) {
    this.user = user;
    this.listeners = new Set();
    this.socket = null;
    this.closed = false;
    this.delay = 1000;
    this.unseen = 0;
    this.known = new Set();
  }

  async preload() {
    // alerts that exist before this page connected are not "new" when a decision updates them
    try {
      const response = await fetch("/api/alerts?limit=500", { credentials: "same-origin" });
      if (response.ok) for (const item of (await response.json()).items) this.known.add(item.id);
    } catch { /* the feed still works */ }
  }

  start() {
    if (this.closed) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/api/alerts/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => { this.delay = 1000; document.body.dataset.feed = "open"; });
    socket.addEventListener("message", (event) => this.receive(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      document.body.dataset.feed = "closed";
      if (!this.closed) setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    });
  }

  close() { this.closed = true; if (this.socket) this.socket.close(); }

  on(listener) { this.listeners.add(listener); return () => this.listeners.delete(listener); }

  receive(message) {
    // the server sends every raised or decided alert; a new, unconfirmed id is a new alert
    const alert = message.alert || {};
    const isNew = message.type === "alert" && alert.state === "new" && !this.known.has(alert.id);
    if (alert.id) this.known.add(alert.id);
    if (isNew) {
      AlertFeed.beep();
      this.unseen += 1;
      this.showBanner(alert);
    }
    for (const listener of this.listeners) listener(message);
    const badge = document.getElementById("alert-count");
    badge.hidden = this.unseen === 0;
    badge.textContent = String(this.unseen);
  }

  seen() {
    this.unseen = 0;
    document.getElementById("alert-count").hidden = true;
    document.getElementById("alert-banner").hidden = true;
  }

  showBanner(alert) {
    const banner = document.getElementById("alert-banner");
    banner.replaceChildren(h("span", {}, `ALERT: ${alert.subject?.name} on camera ${alert.camera?.name}`),
      h("span", { class: "muted" }, " (open the alert feed to confirm or dismiss)"));
    banner.hidden = false;
  }
}
