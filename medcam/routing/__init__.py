"""Routing: send each series to the model that fits it (:mod:`medcam.routing.rules`).

>>> from medcam.routing import load_routes, route
>>> routes = load_routes()          # the built-in default, or load_routes("routes.toml")
>>> route(routes, ref).describe()   # doctest: +SKIP
{'rule': 'ct-volumes', 'action': 'explain', 'model': 'demo-ct3d'}
"""

from medcam.routing.decide import Decision, SeriesFacts, check_models, decide, facts_of, route
from medcam.routing.rules import Routes, Rule, load_routes, parse_routes

__all__ = ["Decision", "Routes", "Rule", "SeriesFacts", "check_models", "decide", "facts_of",
           "load_routes", "parse_routes", "route"]
