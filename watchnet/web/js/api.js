// Calls to /api with the session cookie; errors become exceptions carrying the server's message.
export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export async function api(path, { method = "GET", body, form } = {}) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (form) init.body = form;
  else if (body !== undefined) { init.body = JSON.stringify(body); init.headers["content-type"] = "application/json"; }
  return read(path, await fetch(path, init));
}

/** The answer to a request boot.js started for ``path`` (a fetch promise), read as api() reads its own. */
export async function answer(path, pending) { return read(path, await pending); }

async function read(path, response) {
  if (response.status === 401 && !path.startsWith("/api/auth/login")) onUnauthorized();
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { const data = await response.json(); if (data.detail) message = typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail); } catch { /* not JSON */ }
    throw new ApiError(response.status, message);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}
