"""fetalviewer.analysis (Qt-free)."""
