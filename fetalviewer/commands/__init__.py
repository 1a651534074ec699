"""Subcommands of the ``fetalviewer`` command line (see :mod:`fetalviewer.cli`)."""
