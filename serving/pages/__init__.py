"""Pages for the sales floor, served by the scoring service itself (mounted at /pages).

Funnel, tonight's list, a lead's trail and model health, as HTML shells whose hand-written
scripts draw tables and small SVG charts from JSON data endpoints under /pages/api/. Every
script and style ships in `static/`; nothing is fetched from outside the service. The figures
are computed where the data lives: the store's queries (`queries.py`), the reports that
`leadscore funnel` and `monitor` keep in the store (features/store/reports.py), and the
registry for the models (`health.py`).
"""
