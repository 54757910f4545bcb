"""Tiny random stand-ins of everything the paper configuration fetches from the Hugging Face hub,
served by the loopback hub (``hub_server.LocalHub``) at the exact repo ids and pinned revisions."""

from standins.hub import STANDINS_VERSION, build_standins, paper_standins_hub, planned, serve

__all__ = ["STANDINS_VERSION", "build_standins", "paper_standins_hub", "planned", "serve"]
