"""The simulated funnel and its inverse: the simulator writes data with a known truth, the
oracle reads that truth back as the best possible forecast.

config.py holds configs/simulate.yaml; population.py, hazard.py, stages.py and behaviour.py
draw the leads, their SQL hazard, their stages and their events; tables.py writes the four
tables; simulate.py runs it all, and drift.py changes the world from a month on (`--drift`).
oracle.py is the inverse, which `leadscore train` hands to training when a data folder holds
the simulator's truth table (training never imports it).
"""
