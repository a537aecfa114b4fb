"""Probe results in, durable outages and each target's published status out."""
