"""The game day's consoles (aiohttp + Jinja2 + server-sent events; plain JS and CSS, no build step).

- ``team``: join, the pager, the incident, the team's timeline, the actions; the pager's webhook.
- ``facilitator``: the team's view plus the faults, live SLIs, hints, extend, end, reveal.
- ``app``: what both share (one :class:`~gameday.console.app.Console` per game day); ``serve``: both
  sites; ``python -m gameday.console``: the process the runner starts (docs/gameday.md, "The consoles").
"""
