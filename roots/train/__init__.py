"""Training: the recipe, the loop with its checkpoints, the data it reads and the run folders it writes."""
