"""Clients of the real backends a job uses: the language model (and the local
one), the browser (session, URL guard, steps, agent) and its egress proxy, and
the chat history. No Celery here; these import only ``longrun``."""
