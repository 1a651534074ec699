"""Exam record: what the sonographer measured, corrected and signed, kept per study (Qt-free)."""
