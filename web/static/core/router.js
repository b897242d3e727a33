// Hash routes (#board, #entry/12, #qa/5, ...): each feature module registers its own views here;
// one hashchange listener shows exactly one view. Nothing is wrapped or reassigned.
import { $, $$ } from "./dom.js";

const routes = new Map();  // name -> { view, nav, allowed, enter }
const listeners = [];
const DEFAULT = "board";
let started = false;

// register("ledger", { view: "#view-ledger", nav: "#nav-x", allowed: () => bool, enter: (arg) => {} })
export function register(name, spec) {
  if (routes.has(name)) throw new Error(`route ${name} registered twice`);
  routes.set(name, { view: `#view-${name}`, allowed: () => true, enter: () => {}, ...spec });
}

// Called after every route with (name, arg): for modules that add to another module's view.
export function onRoute(fn) { listeners.push(fn); }

export function current() {
  const [name, arg = ""] = (location.hash.slice(1) || DEFAULT).split("/");
  return { name, arg };
}

export const go = (hash) => { location.hash = hash; };

// Shows or hides the nav links of routes the user may (not) open.
export function refreshNav() {
  for (const spec of routes.values()) if (spec.nav) $(spec.nav).hidden = !spec.allowed();
}

export function show() {
  if (!started) return;
  let { name, arg } = current();
  let spec = routes.get(name);
  if (spec && !spec.allowed()) { go(`#${DEFAULT}`); return; }  // the hashchange routes again
  if (!spec) { name = DEFAULT; arg = ""; spec = routes.get(DEFAULT); }
  refreshNav();
  for (const v of $$(".view")) v.hidden = `#${v.id}` !== spec.view;
  for (const a of $$("nav a")) a.classList.toggle("active", a.dataset.view === name);
  spec.enter(arg);
  for (const fn of listeners) fn(name, arg);
}

export function start() {
  if (!started) window.addEventListener("hashchange", show);
  started = true;
  show();
}

export const isShown = (name) => !$(routes.get(name)?.view || `#view-${name}`).hidden;
