// The flow editor: Ace for JSON, server validation and the graph redrawn as the user types.
(function () {
  function csrf(form) { return form.querySelector("input[name=csrfmiddlewaretoken]").value; }
  function escapeHtml(text) {
    const div = document.createElement("div"); div.textContent = text; return div.innerHTML;
  }
  function showResult(result) {
    const list = document.getElementById("errors");
    function item(kind) {
      return function (e) {
        return '<li class="list-group-item list-group-item-' + kind + '"><code>' +
          escapeHtml(e.path) + "</code> " + escapeHtml(e.msg) + "</li>";
      };
    }
    list.innerHTML = result.errors.map(item("danger")).join("") +
      (result.warnings || []).map(item("warning")).join("");
    const badge = document.getElementById("valid-badge");
    badge.className = "badge " + (result.valid ? "text-bg-success" : "text-bg-danger");
    badge.textContent = result.valid ? "valid" : result.errors.length + " error" + (result.errors.length === 1 ? "" : "s");
    const figure = document.querySelector("#graph .flow-graph");  // see fabflow/graph.js
    if (figure && window.fabflowGraph) { window.fabflowGraph.redraw(figure, result.graph, result.summary); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("flow-form");
    const textarea = document.getElementById("definition");
    if (!form || !textarea) { return; }
    let getText = function () { return textarea.value; };
    if (window.ace) {
      window.ace.config.set("basePath", form.dataset.aceBase);
      const editor = window.ace.edit("editor", { mode: "ace/mode/json", theme: "ace/theme/github",
        tabSize: 2, useSoftTabs: true, showPrintMargin: false, fontSize: 13 });
      editor.session.setValue(textarea.value);
      getText = function () { return editor.getValue(); };
      let timer = null;
      editor.session.on("change", function () {
        textarea.value = editor.getValue();
        clearTimeout(timer);
        timer = setTimeout(preview, 400);
      });
      window.fabflowEditor = editor;
    } else {
      document.getElementById("editor").classList.add("d-none");
      textarea.classList.remove("d-none");
      textarea.addEventListener("input", function () { clearTimeout(textarea._t); textarea._t = setTimeout(preview, 400); });
    }
    function preview() {
      fetch(form.dataset.previewUrl, { method: "POST", body: getText(),
        headers: { "X-CSRFToken": csrf(form), "Content-Type": "application/json" },
        credentials: "same-origin" })
        .then(function (r) { return r.json(); }).then(showResult).catch(function () {});
    }
    form.addEventListener("submit", function () { textarea.value = getText(); });
  });
})();
