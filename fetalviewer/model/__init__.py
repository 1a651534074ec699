"""fetalviewer.model (Qt-free)."""
