"""midivae studio: compose in the browser with the shipped and your own models.

`create_app` builds the ASGI app (Starlette) that `midivae studio` serves on
127.0.0.1: a page (``static/``: HTML, JS and CSS with no build step and nothing
fetched from the internet) over a JSON API that calls the public `midivae.api`
only. See `midivae.studio.server`.
"""

from midivae.studio.server import create_app
from midivae.studio.session import Studio

__all__ = ["Studio", "create_app"]
