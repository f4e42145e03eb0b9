"""Datasets: GET from Hugging Face, PUSH through the webhook."""
