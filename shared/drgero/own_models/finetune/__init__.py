"""Fine-tuning Dr.Gero models from leaderboard datasets (docs/fine-tuning.md)."""
