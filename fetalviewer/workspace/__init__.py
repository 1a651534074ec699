"""Study analysis orchestration for the review workspace: progressive passes, result cache, search (Qt-free)."""
