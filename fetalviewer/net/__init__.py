"""fetalviewer.net: DICOM networking (nodes, echo, query, retrieve, receive, send); Qt-free."""
