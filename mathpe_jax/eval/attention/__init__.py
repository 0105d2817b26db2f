"""Attention patterns of evaluated examples: the probe that runs the model, statistics, heatmaps."""
