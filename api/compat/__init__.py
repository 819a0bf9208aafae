"""The five seed systems' APIs, as thin adapters over ``api.service``.

One module per seed: it maps the seed's request fields onto a core job,
the core job document onto the seed's response fields and status words, and
every error onto the seed's envelope. There is no second job system: a job
submitted through a seed route is an ordinary Longrun job (visible under
/api/v1/jobs too). See docs/compatibility.md.
"""

from api.compat import browser_agent, chat_qa, inference_agent, orchestrator, pdf_codegen

# One module per API served: browser_agent (seed 000), chat_qa (001), pdf_codegen (002),
# orchestrator (003), inference_agent (004).
BLUEPRINTS = [module.blp for module in (browser_agent, chat_qa, pdf_codegen, orchestrator, inference_agent)]


def register(app) -> None:
    # Plain Flask blueprints: their contract is the seed documents (each with its
    # own envelope), so they stay out of /openapi.json, which is Longrun's own API.
    for blp in BLUEPRINTS:
        app.register_blueprint(blp)
