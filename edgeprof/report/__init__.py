"""Reports from stored Results: terminal tables, JUnit XML, Markdown, plots, HTML."""
