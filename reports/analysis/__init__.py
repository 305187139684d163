"""From sources to figures: impact, incident times, budget, the fault -> SLI -> alert chain, mechanisms,
evidence and expectations."""
