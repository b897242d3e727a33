// Who is signed in (/api/meta), login and logout. Feature modules register start hooks, run in
// registration order once the panel is shown after each login, before the first route.
import { api, post } from "./api.js";
import { $ } from "./dom.js";
import * as events from "./events.js";
import * as router from "./router.js";
import * as vocab from "./vocab.js";

const hooks = [];
let meta = null;

export const onStart = (fn) => { hooks.push(fn); };
export const current = () => meta;
export const can = (permission) => !!meta?.permissions.includes(permission);
export const canEdit = () => can("edit_entries");
export const users = () => meta?.users || [];
export const userName = (id) => users().find((u) => u.id === id)?.display_name || "";
export const displayNameOf = (username) => users().find((u) => u.username === username)?.display_name || username;

export function showLogin() {
  events.disconnect();
  delete document.body.dataset.started;
  $("#app").hidden = true;
  $("#login").hidden = false;
  $("#login-form").username.focus();
}

export async function start() {
  let m;
  try { m = await api("/api/meta"); } catch { return; }
  meta = m;
  vocab.load(m.vocab);
  $("#login").hidden = true;
  $("#app").hidden = false;
  $("#who").textContent = `${m.username}（${vocab.label("roles", m.role)}）`;
  document.body.classList.toggle("read-only", !canEdit());
  events.connect();
  for (const fn of hooks) {
    try { await fn(m); } catch (err) { setTimeout(() => { throw err; }); }
  }
  router.start();
  document.body.dataset.started = "1";  // nav and first view are in place (the browser tests wait on it)
}

export function bind() {
  document.addEventListener("cc:unauthorized", showLogin);
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await post("/api/auth/login", { username: f.username.value, password: f.password.value });
      $("#login-error").textContent = ""; f.password.value = ""; start();
    } catch (err) { $("#login-error").textContent = err.message.includes("频繁") ? err.message : "用户名或密码错误"; }
  });
  $("#logout").addEventListener("click", async () => {
    await post("/api/auth/logout").catch(() => {});
    location.hash = "";
    showLogin();
  });
}
