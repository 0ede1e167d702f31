"""Infrastructure the services stand on: engines and sessions, the embedded Redis, the query cache,
rate limits, Prometheus metrics, crypto helpers and the migrations runner."""
