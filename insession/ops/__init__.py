"""Operating a running flow: Prometheus metrics and what feeds them, the HTTP server, health
checks, and the live ops board and its page."""
