// DOM helpers and the one way markup enters the page: `html` templates escape every interpolation
// unless it is itself an `html` template (or markup our server sanitised, marked with `trusted`).
// `render` accepts nothing else, so untrusted text cannot reach innerHTML unescaped.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };
export const escapeText = (s) => String(s ?? "").replace(/[&<>"'`]/g, (c) => ENTITIES[c]);

class Html {
  #markup;
  constructor(markup) { this.#markup = markup; }
  toString() { return this.#markup; }
}

function part(value) {
  if (value instanceof Html) return value.toString();
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === null || value === undefined || value === false) return "";
  return escapeText(value);
}

// html`<td>${text}</td>`: text is escaped; nested html`` fragments and arrays of them are kept.
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => { out += part(v) + strings[i + 1]; });
  return new Html(out);
}

// Markup the server built and sanitised itself (pygal's SVG charts): never text from a person.
export const trusted = (markup) => new Html(String(markup));

export const isHtml = (value) => value instanceof Html;

// The only innerHTML assignment in the panel.
export function render(el, content) {
  if (!(content instanceof Html)) throw new TypeError("render() takes html`` templates only");
  el.innerHTML = content.toString();
}

// <option>s: items are {code, label} (vocab) or [value, label] pairs.
export function options(items, blank) {
  const pairs = items.map((x) => (Array.isArray(x) ? x : [x.code, x.label]));
  return html`${blank !== undefined ? html`<option value="">${blank}</option>` : ""}${pairs.map(([v, l]) => html`<option value="${v}">${l}</option>`)}`;
}
