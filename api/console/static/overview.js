// The overview refreshes itself every few seconds (server-rendered panel).
(function () {
  "use strict";
  var panel = document.getElementById("overview");
  if (!panel) { return; }
  var src = panel.getAttribute("data-src");
  var updated = document.getElementById("overview-updated");
  function refresh() {
    if (document.visibilityState !== "visible") { return schedule(); }
    fetch(src, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) {
        panel.innerHTML = html;
        updated.textContent = "updated " + new Date().toLocaleTimeString();
      }
    }).catch(function () {}).then(schedule);
  }
  function schedule() { window.setTimeout(refresh, 3000); }
  schedule();
})();
