"""Render a :class:`reports.build.Report`: one self-contained HTML page, Markdown, summary.json."""
