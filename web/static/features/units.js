// Unit completion from the resident directory, for every input named "unit" (datalist #unit-options).
import { api } from "../core/api.js";
import { $, html, render } from "../core/dom.js";

let timer = 0;
document.addEventListener("input", (ev) => {
  if (ev.target.name !== "unit") return;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const rows = await api(`/api/residents/units?prefix=${encodeURIComponent(ev.target.value)}`).catch(() => []);
    render($("#unit-options"), html`${rows.map((r) => html`<option value="${r.unit}">${r.name}</option>`)}`);
  }, 150);
});
