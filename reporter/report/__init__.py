"""The daily report: build the model from history -> render HTML (and PDF in a child process) -> deliver."""
