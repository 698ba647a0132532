"""Benchmarking: forward time of every variant per implementation and layout, CPU and GPU."""
