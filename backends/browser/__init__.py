"""Browser automation for the ``browser`` job kind: Playwright driving Debian's
Chromium (``executable_path``, headless, never a downloaded browser), or an
existing browser reached through an allow-listed ``cdp_url``.

One module per concern:

- ``processes``: every Chromium process of a job carries a marker in its
  environment; found and killed by it, so no Chromium outlives its job;
- ``profiles``: the throw-away user-data-dirs, and sweeping the stale ones;
- ``session``: ``BrowserSession`` (one browser for one job, always ended) and
  the URL guard: Playwright request routing refuses a request's URL before it
  leaves, and a launched Chromium connects only through ``EgressProxy``
  (backends/egress_proxy.py), which checks every hop against longrun/urls.py;
- ``steps``: scripted steps, a table from action name to handler;
- ``agent``: a language model picks the next action from the page's text and
  interactive elements, in JSON mode, until it answers ``done``.
"""
