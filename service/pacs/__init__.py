"""PACS clients: C-STORE and STOW-RS senders, WADO-RS retrieval."""
