"""Lambda entry points: parse the event, call one function of engagement.stages, return a small dict."""
