// A job's page, live: status, progress, step, message and streamed output from
// the API's event stream (EventSource, with the session cookie); logs polled
// from the API's logs route; result, error, files and webhooks fetched again
// once the job ends. After a dropped connection EventSource reconnects by itself
// and sends Last-Event-ID; when the server refused the stream (429, 503) we
// open a new one from the last event seen (?last_event_id=).
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var FINAL = { completed: true, failed: true, cancelled: true };
  var eventsUrl = root.getAttribute("data-events-url");
  var logsUrl = root.getAttribute("data-logs-url");
  var jobUrl = root.getAttribute("data-job-url");
  var panelUrl = root.getAttribute("data-panel-url");
  var state = document.getElementById("stream-state");
  var lastId = null;
  var source = null;
  var finished = FINAL[root.getAttribute("data-status")] === true;
  var logTimer = null;

  function $(id) { return document.getElementById(id); }

  function setStatus(status) {
    root.setAttribute("data-status", status);
    var badge = $("job-status").querySelector(".status");
    badge.textContent = status;
    badge.className = "status st-" + status;
    badge.setAttribute("data-status", status);
    $("job-progress").className = "bar big st-" + status;
    var cancel = $("cancel-form");
    if (cancel && FINAL[status]) { cancel.remove(); }
  }

  function setProgress(progress, status) {
    if (!progress) { return; }
    var pct = Number(progress.percentage || 0);
    if (status === "completed") { pct = 100; }
    var bar = $("job-progress");
    bar.value = pct;
    bar.textContent = Math.round(pct) + "%";
    $("job-pct").textContent = Math.round(pct) + "%";
    if (progress.step_name) {
      var step = progress.step_name;
      if (progress.total_steps) { step += " (" + progress.current_step + " of " + progress.total_steps + ")"; }
      $("job-step").textContent = step;
    }
    if (progress.message) { $("job-message").textContent = progress.message; }
    if (typeof progress.output === "string" && progress.output.length) {
      $("output-wrap").hidden = false;
      var out = $("job-output");
      var atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
      out.textContent = progress.output;
      if (atEnd) { out.scrollTop = out.scrollHeight; }
    }
  }

  function apply(data) {
    var changed = data.status && data.status !== root.getAttribute("data-status");
    if (data.status) { setStatus(data.status); }
    setProgress(data.progress, data.status);
    if (FINAL[data.status]) {
      finish();
    } else if (changed) {
      refreshFacts();  // a new status: started time and attempts come with the job document
    }
  }

  function refreshPanel() {
    return fetch(panelUrl, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null) { $("job-panel").innerHTML = html; }
    });
  }

  function when(iso) { return iso ? iso.replace("T", " ").split(".")[0].replace(/Z$/, "") + " UTC" : "—"; }

  function refreshFacts() {
    // The job document: on "resync" (events we had not seen were dropped) and once it ends.
    return fetch(jobUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        $("job-started").textContent = when(job.started_at);
        $("job-finished").textContent = when(job.finished_at);
        $("job-attempts").textContent = job.attempts;
        apply(job);
      })
      .catch(function () {});
  }

  function finish() {
    if (finished) { return; }
    finished = true;
    if (source) { source.close(); source = null; }
    state.textContent = "";
    refreshPanel();
    loadLogs();
    refreshFacts();
  }

  function connect() {
    var url = eventsUrl;
    if (lastId) { url += "?last_event_id=" + encodeURIComponent(lastId); }
    source = new EventSource(url, { withCredentials: true });
    source.onopen = function () { state.textContent = "live"; };
    function handle(event) {
      if (event.lastEventId) { lastId = event.lastEventId; }
      apply(JSON.parse(event.data));
    }
    source.addEventListener("status", handle);
    source.addEventListener("progress", handle);
    source.addEventListener("resync", function () { refreshFacts(); });
    source.addEventListener("gone", function () {
      if (source) { source.close(); source = null; }
      state.textContent = "This job was deleted or has expired.";
    });
    source.onerror = function () {
      if (finished || !source) { return; }
      if (source.readyState === EventSource.CLOSED) {
        // Refused (e.g. too many streams, or the server was unavailable): try again, from where we were.
        source = null;
        state.textContent = "reconnecting…";
        window.setTimeout(connect, 3000);
      } else {
        state.textContent = "reconnecting…";  // EventSource retries by itself, with Last-Event-ID
      }
    };
  }

  function loadLogs() {
    return fetch(logsUrl + "?tail=500", { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        var pre = $("job-logs");
        var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
        var text = body.lines.map(function (l) {
          return l.ts + " " + l.level + " " + l.message;
        }).join("\n");
        if (body.dropped) { text = "(" + body.dropped + " older lines dropped)\n" + text; }
        pre.textContent = text || "No log lines yet.";
        if (atEnd) { pre.scrollTop = pre.scrollHeight; }
      })
      .catch(function () { /* the next poll tries again */ });
  }

  function pollLogs() {
    loadLogs().then(function () {
      if (!finished) { logTimer = window.setTimeout(pollLogs, 1500); }
    });
  }

  if (finished) {
    loadLogs();
  } else {
    connect();
    pollLogs();
  }
  window.addEventListener("pagehide", function () {
    if (source) { source.close(); }
    if (logTimer) { window.clearTimeout(logTimer); }
  });
})();
