"""Identity routes (tutorhub style). (Being implemented for issue 3.)"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..routing import Routes

routes = Routes(envelope="tutorhub")


@hookimpl
def register_routes() -> Routes:
    return routes
