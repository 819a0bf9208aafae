"""gunicorn settings read from the working directory (``gunicorn api.wsgi:app``);
command-line options win.

keepalive: gunicorn closes an idle keep-alive connection after 2 s by default,
exactly the polling interval of the seed clients (000 and 001 poll every 2 s,
002 every 5-15 s): a client then races the close and sees "connection reset"
on a request it sent. Idle connections are kept longer than any seed's poll
interval and than common proxies' idle timeouts, so the client side closes
first. (gthread workers park idle connections in their poller; they hold no
thread.)
"""

keepalive = 75
