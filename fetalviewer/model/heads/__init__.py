"""Segmentation and classification heads: the project's own default head model and FetalCLIP-feature heads."""
