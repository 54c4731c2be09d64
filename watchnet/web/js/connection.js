// Is the server there? Polls /api/health; when it stops answering, a banner says "connection lost —
// retrying" with the next try's countdown (back-off 1 s .. 15 s); when it answers again the banner goes
// and "watchnet:reconnected" tells the views to restart their streams.
const OK_MS = 3000;

export class ConnectionMonitor {
  constructor(banner) { this.banner = banner; this.delay = 1000; this.lost = false; this.timer = null; }

  start() { this.check(); }

  async check() {
    let ok = false;
    try {
      const controller = new AbortController();
      const abort = setTimeout(() => controller.abort(), 4000);
      const response = await fetch("/api/health", { cache: "no-store", signal: controller.signal });
      clearTimeout(abort);
      ok = response.ok;
    } catch { ok = false; }
    if (ok) {
      if (this.lost) window.dispatchEvent(new Event("watchnet:reconnected"));
      this.lost = false;
      this.delay = 1000;
      this.banner.hidden = true;
      document.body.dataset.server = "up";
      this.timer = setTimeout(() => this.check(), OK_MS);
      return;
    }
    this.lost = true;
    document.body.dataset.server = "down";
    this.banner.hidden = false;
    this.banner.textContent = `Connection lost — retrying in ${Math.round(this.delay / 1000)} s…`;
    this.timer = setTimeout(() => this.check(), this.delay);
    this.delay = Math.min(this.delay * 2, 15000);
  }
}
