"""Dr.Gero models: the workspace's own models and their fine-tuning."""
