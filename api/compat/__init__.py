"""The five seed systems' APIs, as thin adapters over ``api.service``.

One module per seed: it maps the seed's request fields onto a core job,
the core job document onto the seed's response fields and status words, and
every error onto the seed's envelope. There is no second job system: a job
submitted through a seed route is an ordinary Longrun job (visible under
/api/v1/jobs too). See README "Compatibility".
"""

from api.compat import (seed000_browser, seed001_chat, seed002_codegen, seed003_tasks,
                        seed004_inference)

BLUEPRINTS = [module.blp for module in (seed000_browser, seed001_chat, seed002_codegen,
                                        seed003_tasks, seed004_inference)]


def register(app) -> None:
    # Plain Flask blueprints: their contract is the seed documents (each with its
    # own envelope), so they stay out of /openapi.json, which is Longrun's own API.
    for blp in BLUEPRINTS:
        app.register_blueprint(blp)
