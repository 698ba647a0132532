"""Pipeline logistics: plans of runs (sweep), moving results between machines, DVC stages, notebooks."""
