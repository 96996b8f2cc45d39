"""CaribIX looking glass: a read-only BIRD backend and a web front end.

- ``backend``: a WSGI app on each route server answering birdwatcher-style
  JSON (``/status``, ``/protocols/bgp``, ``/routes/protocol/<p>``,
  ``/routes/filtered/<p>``, ``/routes/noexport/<p>``...) from ``birdc -r``.
- ``frontend``: HTML pages for members, aggregating the backends of both
  route servers of an island; filtered routes show why (``reject``).
- ``validate``: the only way user input reaches a BIRD command.

Stdlib only, except the production WSGI server (waitress) in ``serve``
and Jinja2, which renders the front end's pages (``templates/``).
"""

__version__ = "1.0.0"
