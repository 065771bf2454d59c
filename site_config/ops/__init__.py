"""Operations: the health and readiness probes, the Prometheus metrics, and what records them."""
