"""Top floor: what users call — the `leadscore` CLI, the funnel simulator, configs, reports."""
