// Fabflow's few behaviours: row selection for exports and the column toggles.
(function () {
  function updateSelection(form) {
    const boxes = form.querySelectorAll("input[name=ids]");
    const checked = form.querySelectorAll("input[name=ids]:checked").length;
    form.querySelectorAll("[data-needs-selection]").forEach(function (button) {
      button.disabled = checked === 0 || checked > 50;
    });
    const counter = form.querySelector("[data-selection-count]");
    if (counter) {
      counter.textContent = checked ? checked + " selected" + (checked > 50 ? " (at most 50 can be exported)" : "") : "";
    }
    const all = form.querySelector("input[data-select-all]");
    if (all) { all.checked = boxes.length > 0 && checked === boxes.length; }
  }
  document.addEventListener("change", function (event) {
    const target = event.target;
    const form = target.closest("form[data-table]");
    if (target.matches("input[data-select-all]") && form) {
      form.querySelectorAll("input[name=ids]").forEach(function (box) { box.checked = target.checked; });
    }
    if (form) { updateSelection(form); }
    if (target.matches("input[data-column-toggle]")) { target.form.requestSubmit(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-table]").forEach(updateSelection);
    document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.requestSubmit(); });
    });
  });
})();
