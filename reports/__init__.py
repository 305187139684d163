"""The post-mortem reporter: sources -> analysis -> render (HTML, Markdown, summary.json)."""
