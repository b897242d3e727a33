// The estates (项目) the signed-in user may see, from /api/meta. Nothing of estates is shown on a
// single-estate site; with several, every call card and entry names its estate, and a user of more
// than one estate gets the header's selector, which narrows the board and the ledger.
import { $, html, options, render } from "./dom.js";
import * as session from "./session.js";

let mine = [];
let several = false;
let chosen = "";
const listeners = [];

export const shown = () => several;
export const selected = () => chosen;  // an estate id as text, "" for all of mine
export const nameOf = (id) => mine.find((e) => e.id === id)?.name || "";
export const onChange = (fn) => { listeners.push(fn); };
// The `estate` query parameter of list requests while one estate is selected.
export function query(q) { if (chosen) q.set("estate", chosen); return q; }
// A call or entry of the selected estate (every one when none is selected)?
export const matches = (id) => !chosen || id === undefined || id === null || String(id) === chosen;
export const badge = (id) => (several && nameOf(id) ? html` <span class="badge estate">${nameOf(id)}</span>` : "");

session.onStart((meta) => {
  mine = meta.estates || [];
  several = (meta.all_estates || 1) > 1;
  chosen = "";
  const sel = $("#estate-filter");
  render(sel, options(mine.map((e) => [e.id, e.name]), "全部项目"));
  sel.value = "";
  sel.hidden = !(several && mine.length > 1);
});

$("#estate-filter").addEventListener("change", (ev) => {
  chosen = ev.target.value;
  for (const fn of listeners) fn(chosen);
});
