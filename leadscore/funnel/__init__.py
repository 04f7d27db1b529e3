"""`leadscore funnel`: the sales funnel's figures from the data, and what the model adds.

figures.py computes them (conversion, sources, partners, cohorts, CLV) from per-lead facts
(facts.py), velocity and the nurture pool (velocity.py) and the champion-vs-rules comparison
(routing.py); tables.py lays them out, plots.py draws them, report.py delivers terminal tables,
JSON, the HTML page and the MLflow run.
"""
