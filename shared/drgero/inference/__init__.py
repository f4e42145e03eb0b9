"""Production inference."""
