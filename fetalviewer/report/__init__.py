"""fetalviewer.report (Qt-free)."""
