"""Probes on a schedule: conditions, the rules that turn results into a standing (hysteresis), the
probe kinds, the scheduler, and the probes' API and charts.
"""
