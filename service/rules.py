"""The game's rules, as pure functions."""

from __future__ import annotations

import random
from typing import Literal

Choice = Literal["rock", "paper", "scissors"]
Result = Literal["win", "lose", "draw"]
CHOICES: tuple[Choice, ...] = ("rock", "paper", "scissors")
BEATS: dict[Choice, Choice] = {"rock": "scissors", "paper": "rock", "scissors": "paper"}


def decide(player: Choice, computer: Choice) -> Result:
    """The player's result against the computer's choice."""
    if player == computer:
        return "draw"
    return "win" if BEATS[player] == computer else "lose"


def computer_choice(rng: random.Random) -> Choice:
    return CHOICES[rng.randrange(3)]
