// 手工登记: walk-ins and other sources, registered by hand (no recording).
import { post } from "../core/api.js";
import { $, options, render } from "../core/dom.js";
import * as estates from "../core/estates.js";
import * as router from "../core/router.js";
import * as session from "../core/session.js";
import * as vocab from "../core/vocab.js";

$("#n-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  const body = { source: f.source.value, caller_number: f.caller_number.value.trim(), caller_name: f.caller_name.value.trim(),
                 unit: f.unit.value.trim(), category: f.category.value, department: f.department.value,
                 urgent: f.urgent.checked, summary: f.summary.value.trim() };
  if (estates.selected()) body.estate_id = Number(estates.selected());  // else the clerk's first estate
  try {
    const e = await post("/api/entries", body);
    f.reset(); $("#n-msg").textContent = "";
    router.go(`#entry/${e.id}`);
  } catch (err) { $("#n-msg").textContent = `登记失败：${err.message}`; $("#n-msg").className = "error"; }
});

session.onStart(() => {
  const f = $("#n-form");
  render(f.source, options(vocab.items("sources").filter((s) => s.code !== "phone")));  // calls come by phone
  render(f.category, options(vocab.items("categories")));
  render(f.department, options(vocab.items("departments")));
});
router.register("new", { enter: () => { $("#n-form").source.focus(); } });
