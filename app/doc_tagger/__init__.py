"""doc_tagger."""
