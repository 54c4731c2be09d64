// The page's first requests, started while the HTML is still being parsed (a classic script in <head>:
// the strict CSP allows no inline script). Who is logged in, and the live wall's cameras when the page
// opens on the live wall, are asked for together; app.js and live.js take the answers over instead of
// asking again once the ~20 modules are loaded and run. Raw fetch promises only: api.js reads them.
(() => {
  const get = (path) => {
    const pending = fetch(path, { credentials: "same-origin" });
    pending.catch(() => {});  // a network failure is read (and shown) by whoever takes the answer over
    return pending;
  };
  const view = location.hash.replace(/^#\/?/, "").split("/")[0];
  window.watchnetBoot = {
    at: performance.now(),
    me: get("/api/auth/me"),
    cameras: view === "" || view === "live" ? get("/api/cameras") : null,
  };
})();
