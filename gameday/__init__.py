"""The game day: a drill with the team in the loop (GAMEDAY.md, docs/gameday.md).

``gameday.state`` folds the run's journal into the game day's state (pages, acks, the incident, notes,
actions, crashes); ``gameday.console`` serves the team's and the facilitator's consoles.
"""
