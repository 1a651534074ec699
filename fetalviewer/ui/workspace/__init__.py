"""Workspace widgets: plane badge, plane timeline, findings, checklist, search, heat map."""
