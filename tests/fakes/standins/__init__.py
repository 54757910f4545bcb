"""Tiny random stand-ins of everything the paper configuration fetches from the Hugging Face hub,
served by the loopback hub (``hub_server.LocalHub``) at the exact repo ids and pinned revisions.

    hub = paper_standins_hub(tmp / "hub", [REPO / "config/paper.yaml", REPO / "config/paper-ood.yaml"],
                             cache_root=request.config.cache.mkdir("standins"), data_root=data_root)
    ...  # HF_ENDPOINT=hub.endpoint for the prefetch, then hub.__exit__() and HF_HUB_OFFLINE=1

What is served follows the configuration's prefetch plan (``capflow.plan``), so a plan that changes
changes the hub; builds are cached under ``cache_root`` by ``STANDINS_VERSION``.
"""

from fakes.standins.hub import STANDINS_VERSION, build_standins, paper_standins_hub, planned, serve

__all__ = ["STANDINS_VERSION", "build_standins", "paper_standins_hub", "planned", "serve"]
