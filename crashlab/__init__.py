"""crashlab: chaos drills that go from fault to impact to detection to a written post-mortem."""

__version__ = "0.1.0"
