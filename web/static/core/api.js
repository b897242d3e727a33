// The API client: JSON in and out, the CSRF token echoed from its cookie, refusals as ApiError
// with the server's message. A 401 tells the session (event "cc:unauthorized" on document).

const csrf = () => decodeURIComponent((document.cookie.match(/(?:^|; )cc_csrf=([^;]+)/) || [])[1] || "");

export class ApiError extends Error {
  // body: the whole refusal (a 409 carries `conflict`: who changed what)
  constructor(message, status, body = null) { super(message); this.status = status; this.body = body; }
}

// A busy database answers 503 「数据库忙」 after its busy timeout; nothing was written, so the
// same request is sent again a few times before the clerk is told. Each retry is announced
// ("cc:db-busy" on document: path, retry, of) so a form can say it is still trying.
const BUSY_RETRIES = [500, 1500, 3000];
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

export async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json", "X-CSRF-Token": csrf(), ...(opts.headers || {}) };
  let r = await fetch(path, { credentials: "same-origin", ...opts, headers });
  for (const [i, wait] of BUSY_RETRIES.entries()) {
    if (r.status !== 503 || r.headers.get("x-db-busy") !== "1") break;
    document.dispatchEvent(new CustomEvent("cc:db-busy", { detail: { path, retry: i + 1, of: BUSY_RETRIES.length } }));
    await sleep(wait);
    r = await fetch(path, { credentials: "same-origin", ...opts, headers });
  }
  if (r.status === 401 && path !== "/api/auth/login") {
    document.dispatchEvent(new CustomEvent("cc:unauthorized"));
    throw new ApiError("请先登录", 401);
  }
  const body = r.status !== 204 && r.headers.get("content-type")?.includes("json") ? await r.json() : null;
  if (!r.ok) {
    const d = body?.detail;
    throw new ApiError(typeof d === "string" ? d : Array.isArray(d) ? d.map((x) => x.msg).join("；") : r.statusText, r.status, body);
  }
  return body;
}

export const post = (path, body) => api(path, { method: "POST", body: JSON.stringify(body || {}) });
export const send = (method, path, body) => api(path, { method, body: JSON.stringify(body || {}) });
