// The jobs list stays live: its counts, rows and pager are fetched again (rendered
// by the server, the same template as the page) every few seconds while the tab is visible.
(function () {
  "use strict";
  var body = document.getElementById("jobs-live");
  if (!body) { return; }
  var src = body.getAttribute("data-src");
  var last = body.innerHTML;
  function refresh() {
    if (document.visibilityState !== "visible") { return schedule(); }
    fetch(src, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null && html !== last) {
        body.innerHTML = html;
        last = html;
      }
    }).catch(function () {}).then(schedule);
  }
  function schedule() { window.setTimeout(refresh, 2000); }
  schedule();
})();
