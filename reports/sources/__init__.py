"""Where the reporter reads from. Every reader returns its data or a :class:`reports.model.SourceProblem`."""
